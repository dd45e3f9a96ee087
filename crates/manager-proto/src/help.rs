//! `help` (spec §4.3).

use crate::registry::{COMMANDS, by_name};

/// The reply to `help` with `args` being the text after the command name.
///
/// `help` alone lists every command with a help text. `help NAME ` describes one command; the
/// reference answers only when NAME is followed by a space or tab (the line was already cut at
/// its line break, so `help NAME` gets nothing). We also answer `help NAME` without the trailing
/// blank, which is what a person typing it expects; the reply bytes are the reference's.
pub fn reply(args: &[u8]) -> Vec<u8> {
    if args.is_empty() {
        let mut out = b"List of commands:\n\n".to_vec();
        for e in COMMANDS.iter().filter(|e| !e.help.is_empty()) {
            entry_line(&mut out, e.name.as_bytes(), e.help);
        }
        return out;
    }
    let args = args.trim_ascii_start();
    if args.is_empty() {
        // `help ` (empty parameter): no reply, as the reference.
        return Vec::new();
    }
    let name_end = args
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(args.len());
    let name = &args[..name_end];
    let mut out = Vec::new();
    match by_name(name) {
        Some(e) if e.help.is_empty() => {}
        Some(e) => entry_line(&mut out, name, e.help),
        None => {
            out.extend_from_slice(b"Command ");
            out.extend_from_slice(name);
            out.extend_from_slice(b" not found.\n\n");
        }
    }
    out
}

fn entry_line(out: &mut Vec<u8>, name: &[u8], help: &str) {
    out.extend_from_slice(name);
    out.extend_from_slice(b" ... ");
    out.extend_from_slice(help.as_bytes());
    out.extend_from_slice(b".\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_list() {
        let out = String::from_utf8(reply(b"")).expect("utf8");
        assert!(out.starts_with(
            "List of commands:\n\nfile_exists ... file exists.\n\nfileexists ... file exists 2.\n\n\
             getbuild ... return the build number"
        ));
        assert!(out.contains(
            "getfile ... get file.\n\ngetfile_is_zip_support ... check getfile zip support.\n\n\
             getfile_zip ... get zipped file.\n\ngetverbuild"
        ));
        assert!(out.contains("listcalls ... lists active calls.\n\n"));
        assert!(
            out.contains("listregisters ... return the list of registers. Possible params:.\n\n")
        );
        assert!(
            !out.contains("manager_file"),
            "empty help texts are not listed"
        );
        assert!(out.ends_with("totalregisters ... return the number of total registers.\n\n"));
    }

    #[test]
    fn full_list_entries_match_the_reference_sample() {
        let sample = include_str!("../../../testdata/reference-replies/help.txt");
        for block in reply(b"")
            .split(|&b| b == b'\n')
            .filter(|l| l.windows(5).any(|w| w == b" ... "))
        {
            let line = String::from_utf8_lossy(block);
            assert!(
                sample.contains(&format!("\n{line}\n")),
                "{line} not in the reference help"
            );
        }
    }

    #[test]
    fn one_command() {
        assert_eq!(
            reply(b" listcalls "),
            b"listcalls ... lists active calls.\n\n"
        );
        assert_eq!(
            reply(b" listcalls\tx"),
            b"listcalls ... lists active calls.\n\n"
        );
        assert_eq!(
            reply(b" listcalls"),
            b"listcalls ... lists active calls.\n\n"
        );
        assert_eq!(reply(b" nosuch "), b"Command nosuch not found.\n\n");
        assert_eq!(reply(b" manager_file "), b"");
        assert_eq!(reply(b" "), b"");
    }
}

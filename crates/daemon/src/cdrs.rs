//! The CDR writer as the daemon runs it: started on the configured database with its queue in
//! `<spooldir>/.cdrqueue`, fed by the packet paths, flushed at shutdown.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::{error, info, warn};
use voipsensor_cdr::{CdrWriter, Options};
use voipsensor_config::Config;

use crate::packet_path::{CdrSink, DbRecord};

/// The running writer (gone after [`Cdrs::shutdown`]).
#[derive(Debug)]
pub(crate) struct Cdrs {
    writer: Mutex<Option<CdrWriter>>,
}

/// Where the on-disk queue of rows not yet in the database lives.
pub(crate) fn queue_dir(config: &Config) -> PathBuf {
    config.spooldir.join(".cdrqueue")
}

impl Cdrs {
    /// Starts the writer; `None` (logged) when its queue cannot be opened: the sensor still
    /// captures, without CDRs.
    pub(crate) fn start(config: &Config) -> Option<Arc<Self>> {
        let options = Options {
            id_sensor: config.id_sensor.and_then(|i| u16::try_from(i).ok()),
            ..Options::default()
        };
        match CdrWriter::start(&config.database, queue_dir(config), options) {
            Ok(writer) => Some(Arc::new(Self {
                writer: Mutex::new(Some(writer)),
            })),
            Err(e) => {
                error!(error = %e, "CDR writer not started: no CDRs will be stored");
                None
            }
        }
    }

    /// A sink for the packet paths.
    pub(crate) fn sink(self: &Arc<Self>) -> CdrSink {
        let me = self.clone();
        Arc::new(move |record| me.push(&record))
    }

    fn push(&self, record: &DbRecord) {
        let guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(writer) = guard.as_ref() else {
            return;
        };
        let queued = match record {
            DbRecord::Cdr(c) => writer.push_cdr(c),
            DbRecord::Register(r) => writer.push_register(r),
        };
        if !queued {
            warn!("CDR queue full or unwritable: a record was dropped (counted)");
        }
    }

    /// `storingCdrLastWriteAt`: UTC time of the last committed batch.
    pub(crate) fn last_write(&self) -> Option<String> {
        let guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let at = guard.as_ref()?.stats().last_write?;
        let us = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_micros();
        Some(voipsensor_cdr::datetime(
            u64::try_from(us).unwrap_or(u64::MAX),
        ))
    }

    /// Writes what the database takes within `timeout`; the rest stays queued on disk for
    /// the next start.
    pub(crate) fn shutdown(&self, timeout: Duration) {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let s = writer.shutdown(timeout);
            info!(
                cdrs = s.written_cdrs,
                registers = s.written_registers,
                queued = s.queued,
                dropped = s.dropped,
                rejected = s.rejected,
                "CDR writer stopped"
            );
        }
    }
}

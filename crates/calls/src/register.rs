//! REGISTER transactions (§4.2) and registration records (§4.3).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use voipsensor_manager_proto::json::{Row, Value};
use voipsensor_sip::{Message, Method};

use crate::cdr::RegisterRow;
use crate::util::{SEC, datetime, lower, secs, text};
use crate::{Counters, Endpoint};

/// `sip-register-timeout`: lifetime of an unfinished transaction after its last message.
const TX_TIMEOUT_S: u64 = 5;
/// `sip-register-max-registers`.
const MAX_REGS_WITHOUT_ANSWER: u32 = 4;
/// `sip-register-max-messages`.
const MAX_MESSAGES: u32 = 20;
/// `sip-register-state-timeout`.
const STATE_TIMEOUT_S: u64 = 600;
/// Grace after `state_to + expires` before an OK state becomes Expired.
const EXPIRE_GRACE_S: u64 = 30;
/// Minimum packet time between maintenance passes.
const MAINTENANCE_PERIOD_S: u64 = 30;
/// A failed-only record is dropped this long after its last state.
const DROP_FAILED_S: u64 = 60;
/// Any record is dropped this long after its last state.
const DROP_ANY_S: u64 = 7200;
/// Most REGISTER CSeqs / 401 sources remembered per transaction.
const MAX_TX_ITEMS: usize = 16;

/// State numbers as in listregisters.
const OK: u8 = 1;
const FAILED: u8 = 2;
const UNKNOWN_MESSAGE_OK: u8 = 3;
const MANY_REG_MESSAGES: u8 = 4;
const EXPIRED: u8 = 5;
const UNREGISTER: u8 = 6;

fn ok_kind(state: u8) -> bool {
    matches!(state, OK | UNKNOWN_MESSAGE_OK | EXPIRED | UNREGISTER)
}

/// Fields a transaction collects from its REGISTERs.
#[derive(Debug, Clone)]
struct Info {
    src: Endpoint,
    dst: Endpoint,
    vlan: Option<u16>,
    from_num: String,
    from_name: String,
    from_domain: String,
    to_num: String,
    to_domain: String,
    contact_num: String,
    contact_domain: String,
    digest_user: String,
    digest_realm: String,
    ua: String,
}

#[derive(Debug)]
struct Tx {
    /// Unique among the transactions of the table (REG pcap files).
    id: u64,
    first_us: u64,
    last_register_us: u64,
    last_us: u64,
    info: Info,
    expires: i64,
    cseqs: Vec<(u32, u64)>,
    regs_without_answer: u32,
    n401: u32,
    sources401: Vec<(IpAddr, Option<u16>)>,
    messages: u32,
    last_response: u16,
    rrd_sum_ms: f64,
    rrd_n: u32,
}

#[derive(Debug, Clone)]
struct State {
    state: u8,
    created_us: u64,
    state_to_us: u64,
    expires: i64,
    info: Info,
    rrd_sum_ms: f64,
    rrd_n: u32,
}

#[derive(Debug)]
struct Record {
    key: (String, String),
    digest_user: String,
    ok: Option<State>,
    failed: Option<State>,
    last_is_ok: bool,
    last_us: u64,
}

impl Record {
    fn current(&self) -> Option<&State> {
        if self.last_is_ok {
            self.ok.as_ref().or(self.failed.as_ref())
        } else {
            self.failed.as_ref().or(self.ok.as_ref())
        }
    }

    /// Turns an OK state whose `state_to + expires (+ grace)` passed before `t` into Expired.
    /// Turns an OK state past `state_to + expires + grace` into Expired; true if it did.
    fn expire(&mut self, t: u64, grace_s: u64) -> bool {
        if let Some(ok) = &mut self.ok
            && ok.state == OK
            && let Ok(exp) = u64::try_from(ok.expires)
            && exp > 0
        {
            let end = ok.state_to_us.saturating_add(exp * SEC);
            if end.saturating_add(grace_s * SEC) < t {
                ok.state = EXPIRED;
                ok.created_us = end;
                ok.state_to_us = end;
                ok.expires = 0;
                ok.rrd_n = 0;
                ok.rrd_sum_ms = 0.0;
                if self.last_us <= end {
                    self.last_is_ok = true;
                }
                self.last_us = self.last_us.max(end);
                return true;
            }
        }
        false
    }
}

/// Expires of a message (§4.2): Expires header; Contact `expires=` (> 0) wins, the one of
/// the contact matching (`num`, `domain`) when given, else the largest.
fn expires_of(msg: &Message<'_, '_>, matching: Option<(&str, &str)>) -> Option<i64> {
    let mut best: Option<u32> = None;
    let mut matched: Option<u32> = None;
    for c in msg.contacts() {
        let Some(e) = c.expires().filter(|&e| e > 0) else {
            continue;
        };
        best = Some(best.map_or(e, |b| b.max(e)));
        if let (Some((num, dom)), Some(a)) = (matching, c.addr())
            && text(a.uri.user()) == num
            && text(a.uri.host) == dom
        {
            matched = Some(e);
        }
    }
    matched.or(best).or(msg.expires()).map(i64::from)
}

#[derive(Debug)]
pub(crate) struct Registrations {
    max: usize,
    txs: HashMap<Box<[u8]>, Tx>,
    records: BTreeMap<u64, Record>,
    index: HashMap<(String, String), Vec<u64>>,
    next_id: u64,
    last_maintenance_us: u64,
    /// `register_state` / `register_failed` rows of new states, until taken.
    pending_rows: Vec<RegisterRow>,
    next_tx: u64,
    /// Transactions ended since last taken (their REG pcaps can be closed).
    closed_txs: Vec<u64>,
}

/// Most rows kept for the writer; beyond, new rows are dropped (and counted).
const MAX_PENDING_ROWS: usize = 100_000;

impl Registrations {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            txs: HashMap::new(),
            records: BTreeMap::new(),
            index: HashMap::new(),
            next_id: 0,
            last_maintenance_us: 0,
            pending_rows: Vec::new(),
            next_tx: 0,
            closed_txs: Vec::new(),
        }
    }

    /// Transactions ended since the last call.
    pub(crate) fn take_closed(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.closed_txs)
    }

    fn tx_ref(&self, call_id: &[u8]) -> Option<crate::RegRef> {
        self.txs.get(call_id).map(|tx| crate::RegRef {
            id: tx.id,
            start_us: tx.first_us,
        })
    }

    /// The rows of states started since the last call (oldest first).
    pub(crate) fn take_rows(&mut self) -> Vec<RegisterRow> {
        std::mem::take(&mut self.pending_rows)
    }

    /// Queues the database row of a new state (§4.4).
    fn state_row(&mut self, s: &State, counters: &mut Counters) {
        if self.pending_rows.len() >= MAX_PENDING_ROWS {
            counters.register_rows_dropped += 1;
            return;
        }
        let i = &s.info;
        let failed = !ok_kind(s.state);
        self.pending_rows.push(RegisterRow {
            failed,
            created_us: s.created_us,
            id_sensor: None,
            sipcallerip: i.src.ip,
            sipcallerport: i.src.port,
            sipcalledip: i.dst.ip,
            sipcalledport: i.dst.port,
            from_num: i.from_num.clone(),
            to_num: i.to_num.clone(),
            to_domain: i.to_domain.clone(),
            contact_num: i.contact_num.clone(),
            contact_domain: i.contact_domain.clone(),
            digest_username: i.digest_user.clone(),
            digest_realm: i.digest_realm.clone(),
            // Quirk kept from the reference: Unregister is written as state 1, expires 0.
            expires: if s.state == UNREGISTER {
                0
            } else {
                i32::try_from(s.expires).unwrap_or(i32::MAX)
            },
            state: if s.state == UNREGISTER { OK } else { s.state },
            ua: i.ua.clone(),
            vlan: i.vlan,
            counter: 1,
            fname: 0,
        });
    }

    /// Open REGISTER transactions.
    pub(crate) fn open_transactions(&self) -> usize {
        self.txs.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_sip(
        &mut self,
        now: u64,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        call_id: &[u8],
        msg: &Message<'_, '_>,
        counters: &mut Counters,
    ) -> Option<crate::RegRef> {
        // Taken before: the response that ends the transaction removes it.
        let before = self.tx_ref(call_id);
        if msg.method() == Some(Method::Register) {
            self.on_register(now, src, dst, vlan, call_id, msg, counters);
        } else if let Some(code) = msg.status_code() {
            self.on_response(now, src, vlan, call_id, code, msg, counters);
        }
        before.or_else(|| self.tx_ref(call_id))
    }

    #[allow(clippy::too_many_arguments)]
    fn on_register(
        &mut self,
        now: u64,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        call_id: &[u8],
        msg: &Message<'_, '_>,
        counters: &mut Counters,
    ) {
        if !self.txs.contains_key(call_id) {
            if self.txs.len() >= self.max {
                counters.registers_refused += 1;
                return;
            }
            let info = Info {
                src,
                dst,
                vlan,
                from_num: String::new(),
                from_name: String::new(),
                from_domain: String::new(),
                to_num: String::new(),
                to_domain: String::new(),
                contact_num: String::new(),
                contact_domain: String::new(),
                digest_user: String::new(),
                digest_realm: String::new(),
                ua: String::new(),
            };
            counters.register_transactions_opened += 1;
            self.next_tx += 1;
            self.txs.insert(
                call_id.into(),
                Tx {
                    id: self.next_tx,
                    first_us: now,
                    last_register_us: now,
                    last_us: now,
                    info,
                    expires: -1,
                    cseqs: Vec::new(),
                    regs_without_answer: 0,
                    n401: 0,
                    sources401: Vec::new(),
                    messages: 0,
                    last_response: 0,
                    rrd_sum_ms: 0.0,
                    rrd_n: 0,
                },
            );
        }
        let Some(tx) = self.txs.get_mut(call_id) else {
            return;
        };
        tx.last_us = now;
        tx.last_register_us = now;
        tx.messages += 1;
        tx.regs_without_answer += 1;
        let i = &mut tx.info;
        i.src = src;
        i.dst = dst;
        i.vlan = vlan;
        if let Some(f) = msg.from() {
            i.from_num = text(f.uri.user());
            i.from_name = text(&f.display_name_unescaped());
            i.from_domain = text(f.uri.host);
        }
        if let Some(t) = msg.to() {
            i.to_num = text(t.uri.user());
            i.to_domain = text(t.uri.host);
        }
        if let Some(a) = msg.contacts().find_map(|c| c.addr().copied()) {
            i.contact_num = text(a.uri.user());
            i.contact_domain = text(a.uri.host);
        }
        if let Some(ua) = msg.user_agent() {
            i.ua = text(ua);
        }
        if let Some(auth) = msg.authorization() {
            i.digest_user = auth
                .username()
                .map(|u| text(&u.unescape()))
                .unwrap_or_default();
            i.digest_realm = auth
                .realm()
                .map(|r| text(&r.unescape()))
                .unwrap_or_default();
        }
        tx.expires = expires_of(msg, None).unwrap_or(-1);
        if let Some(c) = msg.cseq() {
            if tx.cseqs.len() >= MAX_TX_ITEMS {
                tx.cseqs.remove(0);
            }
            tx.cseqs.push((c.seq, now));
        }
        if tx.regs_without_answer > MAX_REGS_WITHOUT_ANSWER || tx.messages > MAX_MESSAGES {
            self.finish(now, call_id, MANY_REG_MESSAGES, counters);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_response(
        &mut self,
        now: u64,
        src: Endpoint,
        vlan: Option<u16>,
        call_id: &[u8],
        code: u16,
        msg: &Message<'_, '_>,
        counters: &mut Counters,
    ) {
        let Some(tx) = self.txs.get_mut(call_id) else {
            return;
        };
        tx.last_us = now;
        tx.messages += 1;
        if code >= 200 {
            tx.last_response = code;
        }
        let outcome = match code {
            200..=299 => {
                let sent = msg
                    .cseq()
                    .filter(|c| c.method == Method::Register)
                    .and_then(|c| tx.cseqs.iter().find(|(s, _)| *s == c.seq).map(|&(_, t)| t));
                match sent {
                    Some(t) => {
                        #[allow(clippy::cast_precision_loss)] // ms of a response delay
                        let ms = now.saturating_sub(t) as f64 / 1000.0;
                        tx.rrd_sum_ms += ms;
                        tx.rrd_n += 1;
                        if tx.expires != 0 {
                            let m = (
                                tx.info.contact_num.as_str(),
                                tx.info.contact_domain.as_str(),
                            );
                            if let Some(e) = expires_of(msg, Some(m)) {
                                tx.expires = e;
                            }
                        }
                        Some(if tx.expires == 0 { UNREGISTER } else { OK })
                    }
                    None => Some(UNKNOWN_MESSAGE_OK),
                }
            }
            401 | 407 => {
                tx.n401 += 1;
                tx.regs_without_answer = 0;
                let s = (src.ip, vlan);
                if !tx.sources401.contains(&s) && tx.sources401.len() < MAX_TX_ITEMS {
                    tx.sources401.push(s);
                }
                (tx.n401 as usize > tx.sources401.len()).then_some(FAILED)
            }
            403 | 404 => Some(FAILED),
            _ => (tx.messages > MAX_MESSAGES).then_some(MANY_REG_MESSAGES),
        };
        if let Some(state) = outcome {
            self.finish(now, call_id, state, counters);
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: u64, counters: &mut Counters) {
        let due: Vec<Box<[u8]>> = self
            .txs
            .iter()
            .filter(|(_, tx)| now >= tx.last_us.saturating_add(TX_TIMEOUT_S * SEC))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            let failed = self.txs.get(&k).is_some_and(|tx| {
                tx.messages <= 1
                    || tx.last_response < 200
                    || matches!(tx.last_response, 401 | 403 | 404 | 407)
            });
            if failed {
                self.finish(now, &k, FAILED, counters);
            } else if let Some(tx) = self.txs.remove(&k) {
                counters.register_transactions_closed += 1;
                self.closed_txs.push(tx.id);
            }
        }
        if now
            >= self
                .last_maintenance_us
                .saturating_add(MAINTENANCE_PERIOD_S * SEC)
        {
            self.maintenance(now, counters);
        }
    }

    fn maintenance(&mut self, now: u64, counters: &mut Counters) {
        self.last_maintenance_us = now;
        let mut drop = Vec::new();
        let mut expired = Vec::new();
        for (&id, rec) in &mut self.records {
            if rec.expire(now, EXPIRE_GRACE_S)
                && let Some(ok) = &rec.ok
            {
                expired.push(ok.clone());
            }
            let failed_only = rec.ok.is_none();
            let since = |s: u64| now >= rec.last_us.saturating_add(s * SEC);
            if (failed_only && since(DROP_FAILED_S)) || since(DROP_ANY_S) {
                drop.push(id);
            }
        }
        for id in drop {
            self.remove(id);
        }
        // An Expired state is a new state: it gets its row (§4.3).
        for state in &expired {
            self.state_row(state, counters);
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(rec) = self.records.remove(&id)
            && let Some(v) = self.index.get_mut(&rec.key)
        {
            v.retain(|&x| x != id);
            if v.is_empty() {
                self.index.remove(&rec.key);
            }
        }
    }

    /// Closes a transaction with `state` and merges it into its record (§4.3).
    fn finish(&mut self, now: u64, call_id: &[u8], state: u8, counters: &mut Counters) {
        let Some(tx) = self.txs.remove(call_id) else {
            return;
        };
        counters.register_transactions_closed += 1;
        counters.registrations += 1;
        self.closed_txs.push(tx.id);
        self.next_id += 1;
        let id = self.next_id;
        let t = tx.first_us;
        let new_state = State {
            state,
            created_us: t,
            state_to_us: tx.last_register_us,
            expires: tx.expires,
            info: tx.info,
            rrd_sum_ms: tx.rrd_sum_ms,
            rrd_n: tx.rrd_n,
        };
        let key = (
            new_state.info.to_num.to_ascii_lowercase(),
            new_state.info.to_domain.to_ascii_lowercase(),
        );
        let user = lower(new_state.info.digest_user.as_bytes());
        let existing = self.index.get(&key).and_then(|ids| {
            ids.iter().copied().find(|rid| {
                self.records.get(rid).is_some_and(|r| {
                    r.digest_user.is_empty() || user.is_empty() || r.digest_user == user
                })
            })
        });
        let ok = ok_kind(state);
        let Some(rid) = existing else {
            if self.records.len() >= self.max {
                counters.registers_refused += 1;
                return;
            }
            self.state_row(&new_state, counters);
            let rec = Record {
                key: key.clone(),
                digest_user: user,
                ok: ok.then(|| new_state.clone()),
                failed: (!ok).then_some(new_state),
                last_is_ok: ok,
                last_us: now.max(t),
            };
            self.records.insert(id, rec);
            self.index.entry(key).or_default().push(id);
            return;
        };
        // An OK state past its expiry first becomes Expired (a state of its own, with its row).
        let Some(rec) = self.records.get_mut(&rid) else {
            return;
        };
        let expired = rec.expire(t, 0).then(|| rec.ok.clone()).flatten();
        if let Some(state) = &expired {
            self.state_row(state, counters);
        }
        let Some(rec) = self.records.get(&rid) else {
            return;
        };
        let prev = if ok { &rec.ok } else { &rec.failed };
        let same = prev.as_ref().is_some_and(|prev| {
            prev.state == state
                && prev.info.contact_num == new_state.info.contact_num
                && prev.info.contact_domain == new_state.info.contact_domain
                && t < prev.created_us.saturating_add(STATE_TIMEOUT_S * SEC)
        });
        if !same {
            self.state_row(&new_state, counters);
        }
        let Some(rec) = self.records.get_mut(&rid) else {
            return;
        };
        if rec.digest_user.is_empty() {
            rec.digest_user = user;
        }
        let slot = if ok { &mut rec.ok } else { &mut rec.failed };
        match slot {
            Some(prev)
                if prev.state == state
                    && prev.info.contact_num == new_state.info.contact_num
                    && prev.info.contact_domain == new_state.info.contact_domain
                    && t < prev.created_us.saturating_add(STATE_TIMEOUT_S * SEC) =>
            {
                prev.state_to_us = new_state.state_to_us;
                prev.expires = new_state.expires;
                prev.rrd_sum_ms += new_state.rrd_sum_ms;
                prev.rrd_n += new_state.rrd_n;
                prev.info = new_state.info;
            }
            _ => *slot = Some(new_state),
        }
        rec.last_is_ok = ok;
        rec.last_us = now.max(t);
    }

    pub(crate) fn rows(&self, _now: u64, id_sensor: i64) -> Vec<Row> {
        self.records
            .iter()
            .filter_map(|(&id, rec)| rec.current().map(|s| row(id, id_sensor, s)))
            .collect()
    }
}

fn row(id: u64, id_sensor: i64, s: &State) -> Row {
    let i = &s.info;
    let expires_at = u64::try_from(s.expires).ok().map_or(Value::Null, |e| {
        Value::Str(datetime(secs(s.state_to_us.saturating_add(e * SEC))))
    });
    let rrd = if s.rrd_n == 0 {
        Value::Null
    } else {
        Value::Float(s.rrd_sum_ms / f64::from(s.rrd_n))
    };
    let mut r: Row = vec![
        Value::Int(i64::try_from(id).unwrap_or(i64::MAX)),
        Value::Int(id_sensor),
        Value::Int(0),
        Value::Str(datetime(secs(s.created_us))),
        Value::ip(i.src.ip),
        Value::ip(i.dst.ip),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Int(i64::from(i.src.port)),
        Value::Int(i64::from(i.dst.port)),
        Value::str(i.from_num.clone()),
        Value::str(i.from_name.clone()),
        Value::str(i.from_domain.clone()),
        Value::str(i.to_num.clone()),
        Value::str(i.to_domain.clone()),
        Value::str(i.contact_num.clone()),
        Value::str(i.contact_domain.clone()),
        Value::str(i.digest_user.clone()),
        Value::str(i.digest_realm.clone()),
        Value::Int(s.expires),
        expires_at,
        Value::Int(i64::from(s.state)),
        Value::str(i.ua.clone()),
        rrd,
        Value::Int(0),
        Value::Bool(false),
        i.vlan.map_or(Value::Null, |v| Value::Int(i64::from(v))),
    ];
    r.extend([Value::Null, Value::Null, Value::Null, Value::Null]);
    r
}

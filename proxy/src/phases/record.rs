//! The record phase. Owns `Recorder`: the exchange's `RequestEvent`, filled in by
//! the phases and written into the tee exactly once, when the recorder is dropped:
//! at the end of the response body, or when the client goes away first (status 0
//! if no response was started).
//!
//! Must never block: the tee push drops and counts when the ring is full. Must never
//! record a secret (`RequestEvent` has no field for one).

use std::sync::Arc;
use std::time::Instant;

use palisade_models::{Login, RequestEvent, UsernameHash};

use crate::body::Meter;
use crate::conn::ConnInfo;
use crate::login::{BodyWatch, Judged};
use crate::server::Shared;
use crate::stats::InFlight;

/// Writes one exchange's event when dropped.
#[derive(Debug)]
pub(crate) struct Recorder {
    // An Option only so that Drop can move the event out.
    event: Option<RequestEvent>,
    start: Instant,
    bytes_out: u64,
    meter: Option<Arc<Meter>>,
    /// A login route whose outcome the response body decides.
    login_watch: Option<Box<BodyWatch>>,
    username: Option<UsernameHash>,
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    /// The request's place under `max_in_flight`, given back after the event is
    /// written (fields drop after `drop`).
    in_flight: Option<InFlight>,
}

impl Recorder {
    /// Starts recording; the connection counts the request in flight until the
    /// recorder is dropped.
    pub(crate) fn new(
        event: RequestEvent,
        start: Instant,
        shared: Arc<Shared>,
        conn: Arc<ConnInfo>,
    ) -> Self {
        conn.state.request_started();
        Self {
            event: Some(event),
            start,
            bytes_out: 0,
            meter: None,
            login_watch: None,
            username: None,
            shared,
            conn,
            in_flight: None,
        }
    }

    /// Holds the request's place under `max_in_flight` until the exchange ends.
    pub(crate) fn hold(&mut self, slot: InFlight) {
        self.in_flight = Some(slot);
    }

    /// The event being recorded.
    pub(crate) fn event(&mut self) -> &mut RequestEvent {
        // INVARIANT: `event` is Some from `new` until `drop`, the only place taking it.
        self.event.as_mut().expect("event taken before drop")
    }

    pub(crate) fn set_meter(&mut self, meter: Arc<Meter>) {
        self.meter = Some(meter);
    }

    /// Counts a response data frame, and shows it to a login watch.
    pub(crate) fn saw_data(&mut self, data: &[u8]) {
        self.bytes_out += data.len() as u64;
        if let Some(w) = &mut self.login_watch
            && w.feed(data)
        {
            self.finish_login();
        }
    }

    /// The salted hash of the username a login request carried.
    pub(crate) fn set_username(&mut self, hash: Option<UsernameHash>) {
        self.username = hash;
    }

    /// Records a login route's outcome, known from the response head, or
    /// starts watching the body for it.
    pub(crate) fn login(&mut self, judged: Judged) {
        match judged {
            Judged::Known(outcome) => {
                let username_hash = self.username;
                self.event().login = outcome.map(|outcome| Login {
                    outcome,
                    username_hash,
                });
            }
            Judged::Watch(watch) => self.login_watch = Some(Box::new(watch)),
        }
    }

    fn finish_login(&mut self) {
        if let Some(w) = self.login_watch.take() {
            self.login(Judged::Known(w.verdict()));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // A body that ended (or was cut) before `body_bytes`: judge what came.
        self.finish_login();
        let Some(mut ev) = self.event.take() else {
            return;
        };
        let now = Instant::now();
        ev.latency_us = now.saturating_duration_since(self.start).as_micros() as u64;
        ev.bytes_out = self.bytes_out;
        if let Some(m) = &self.meter {
            ev.bytes_in = m.bytes_in();
        }
        if self.shared.settings.access_log {
            tracing::info!(
                target: "palisade::access",
                request_id = &*ev.request_id,
                client = %ev.client_ip,
                method = %ev.method,
                path = &*ev.path,
                status = ev.status,
                deny = ev.deny.map(|d| d.code.as_str()),
                latency_us = ev.latency_us,
                bytes_in = ev.bytes_in,
                bytes_out = ev.bytes_out,
                protocol = ev.protocol.as_str(),
            );
        }
        self.shared.tee.push(ev);
        self.conn.state.request_ended(now);
    }
}

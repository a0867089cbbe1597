//! Owns the step from the event window's chunks to one polars `DataFrame` with the
//! columns the baselines and the client features need; clients and endpoints
//! become dense integer ids (their names kept beside the frame), so polars groups
//! integers, not strings.
//!
//! Must not keep the frame: it is built per run and dropped with it.

use std::hash::BuildHasher;
use std::net::IpAddr;

use hashbrown::HashMap;
use polars::prelude::*;

use palisade_analytics::window::{Dict, NULL, WindowView};
use palisade_models::{ClientName, Denial};

/// The window as a frame, one row per event. Columns: `ts_us` (i64), `client`
/// (u32, index into `clients`), `endpoint` (u32 or null, index into
/// `endpoints`), `status` (i32), `latency_us` (i64), `bytes` (i64, in + out),
/// `write` (bool: POST, PUT, PATCH, DELETE), `auth_failure` (bool: 401/403 other
/// than a failed login), `server_error` (bool: 5xx other than the proxy's own
/// load shedding), `object` (u64 or null: hash of the path on a templated
/// endpoint).
#[derive(Debug)]
pub struct Frame {
    pub df: DataFrame,
    pub clients: Vec<ClientName>,
    pub endpoints: Vec<Box<str>>,
    /// First and last event time, µs.
    pub span_us: (u64, u64),
}

/// One numbering of every client: addresses and principals.
#[derive(Default)]
struct ClientIds {
    ips: HashMap<IpAddr, u32>,
    principals: HashMap<ClientName, u32>,
    names: Vec<ClientName>,
}

impl ClientIds {
    fn ip(&mut self, ip: IpAddr) -> u32 {
        let next = self.names.len() as u32;
        *self.ips.entry(ip).or_insert_with(|| {
            self.names.push(ClientName::Ip(ip));
            next
        })
    }

    /// Ids for a chunk's dictionary of subjects or API keys.
    fn principals(&mut self, dict: &Dict, make: fn(Box<str>) -> ClientName) -> Vec<u32> {
        dict.values
            .iter()
            .map(|v| {
                let name = make(v.clone());
                let next = self.names.len() as u32;
                match self.principals.get(&name) {
                    Some(&id) => id,
                    None => {
                        self.principals.insert(name.clone(), next);
                        self.names.push(name);
                        next
                    }
                }
            })
            .collect()
    }
}

/// Builds the frame of every sealed chunk of `view`.
pub fn build(view: &WindowView) -> PolarsResult<Frame> {
    let n = view.events();
    let mut ts = Vec::with_capacity(n);
    let mut client = Vec::with_capacity(n);
    let mut endpoint = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut latency = Vec::with_capacity(n);
    let mut bytes = Vec::with_capacity(n);
    let mut write = Vec::with_capacity(n);
    let mut auth_failure = Vec::with_capacity(n);
    let mut server_error = Vec::with_capacity(n);
    let mut object = Vec::with_capacity(n);

    let mut ids = ClientIds::default();
    let mut endpoint_ids: HashMap<Box<str>, u32> = HashMap::new();
    let mut endpoints: Vec<Box<str>> = Vec::new();
    // Fixed seed: the same path hashes alike in every chunk and every run.
    let hasher = foldhash::fast::FixedState::with_seed(0x7061_6c69_7361_6465);

    for c in &view.chunks {
        let subjects = ids.principals(&c.subject, ClientName::Subject);
        let keys = ids.principals(&c.api_key_id, ClientName::ApiKey);
        let eps: Vec<u32> = c
            .endpoint
            .values
            .iter()
            .map(|name| {
                *endpoint_ids.entry(name.clone()).or_insert_with(|| {
                    endpoints.push(name.clone());
                    (endpoints.len() - 1) as u32
                })
            })
            .collect();
        let writes: Vec<bool> = c
            .method
            .values
            .iter()
            .map(|m| matches!(&**m, "POST" | "PUT" | "PATCH" | "DELETE"))
            .collect();
        for i in 0..c.len() {
            ts.push(c.ts_us[i] as i64);
            let id = match (c.subject.codes[i], c.api_key_id.codes[i]) {
                (s, _) if s != NULL => subjects[s as usize],
                (_, k) if k != NULL => keys[k as usize],
                _ => ids.ip(c.client_ip[i]),
            };
            client.push(id);
            let e = c.endpoint.codes[i];
            endpoint.push((e != NULL).then(|| eps[e as usize]));
            status.push(i32::from(c.status[i]));
            latency.push(c.latency_us[i] as i64);
            bytes.push((c.bytes_in[i] + c.bytes_out[i]) as i64);
            let m = c.method.codes[i];
            write.push(m != NULL && writes[m as usize]);
            auth_failure.push(matches!(c.status[i], 401 | 403) && c.login[i].is_none());
            server_error.push(Denial::server_error(c.status[i], c.deny[i]));
            object.push(c.templated[i].then(|| hasher.hash_one(c.path.get(i))));
        }
    }
    let span_us = (
        view.chunks.first().map_or(0, |c| c.span_us().0),
        view.chunks.last().map_or(0, |c| c.span_us().1),
    );
    let df = DataFrame::new(
        n,
        vec![
            Column::new("ts_us".into(), ts),
            Column::new("client".into(), client),
            Column::new("endpoint".into(), endpoint),
            Column::new("status".into(), status),
            Column::new("latency_us".into(), latency),
            Column::new("bytes".into(), bytes),
            Column::new("write".into(), write),
            Column::new("auth_failure".into(), auth_failure),
            Column::new("server_error".into(), server_error),
            Column::new("object".into(), object),
        ],
    )?;
    Ok(Frame {
        df,
        clients: ids.names,
        endpoints,
        span_us,
    })
}

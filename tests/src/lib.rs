//! Test support for the end-to-end suite: real upstreams on 127.0.0.1:0, the real
//! sidecar in-process, and a bounded `eventually` instead of sleeps.

//! The core of the scripted in-process servers (`scripted` for POP3, `scripted_imap` for IMAP):
//! everything about serving a scripted session that is not the protocol itself.
//!
//! A [`Server`] listens on `127.0.0.1:0` and serves each connection in its own thread. It holds
//! what persists across connections, behind one lock ([`State`]): the protocol's settings and
//! its messages (the protocol's [`Protocol::Store`]), the faults scheduled per connection, the
//! [`Stats`] of what it saw, and an optional [`DeleteCheck`]. It counts the connections being
//! served, so a test can wait until the server is idle (has seen everything the client sent).
//!
//! Each connection is a [`Conn`]: it numbers the commands per name ([`Step`]), reads lines with
//! a bound, records every command and the pipelining depth, collects violations, and writes
//! replies (composed, rewritten by the step's faults, recorded, filtered by a mutation,
//! counted, then written in one write). It carries out the faults every protocol shares
//! ([`Action`]: cuts with a FIN or a reset, silences and stalls, garbage, refused logins,
//! replaced and extended replies, cuts and stalls inside message data) and ends the session
//! the way the fault or the protocol says ([`End`]). The protocol ([`Protocol::serve`]) says
//! only what a session says. Tests drive a server by hand with a [`Client`].

mod client;
mod conn;
pub mod sasl;
mod stats;
mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

#[allow(unused_imports)] // each suite uses a part
pub use client::Client;
pub use conn::{Conn, Filter, Filtered};
pub use sasl::{base64_decode, base64_encode};
pub use stats::{DeleteCheck, Received, Stats};
pub use step::{Action, Close, End, Fault, Flow, Step};

/// The only user the servers know.
pub const USER: &str = "alice";
/// Her password.
pub const PASSWORD: &str = "secret";
/// The line a [`Action::Garbage`] fault sends.
pub const GARBAGE: &str = "HELLO WORLD";

/// A message as a protocol's store holds it, as the core and the suites see it.
pub struct Stored<'a, K> {
    pub key: K,
    /// The message as stored (CRLF line ends).
    pub raw: &'a [u8],
    /// Marked for deletion in a way that persists across connections (IMAP `\Deleted`).
    pub marked: bool,
}

/// What a protocol adds to the core.
pub trait Protocol: Sized + 'static {
    /// Server settings (capabilities, quirks).
    type Config: Clone + Default + Send + 'static;
    /// The messages the server holds across connections.
    type Store: Clone + Send + 'static;
    /// A message's identity in [`Stats`].
    type Key: Ord + Clone + Debug + Default + Send + Sync + 'static;
    /// The faults that can be scheduled for a connection.
    type Fault: Fault;
    /// The protocol's name (`POP3`, `IMAP`).
    const NAME: &'static str;
    /// The URL scheme mailpull takes.
    const SCHEME: &'static str;
    /// The names of the login commands ([`Step::Login`]).
    const LOGIN: &'static [&'static str];
    /// Every command name the server knows, as [`Step::Reply`] names them.
    const COMMANDS: &'static [&'static str];

    /// The settings of a server with these capabilities.
    fn config(caps: &[&str]) -> Self::Config;
    /// Checks (panicking on a mistake in the test) and normalises the messages a server starts
    /// with.
    fn prepare(store: Self::Store) -> Self::Store;
    /// Every message in the store.
    fn inventory(store: &Self::Store) -> Vec<Stored<'_, Self::Key>>;
    /// Serves one connection until it ends; `Ok` when the client left.
    fn serve(conn: &mut Conn<'_, Self>) -> Flow;
}

/// What persists across connections.
pub struct State<P: Protocol> {
    pub config: P::Config,
    pub store: P::Store,
    pub stats: Stats<P::Key>,
    faults: BTreeMap<usize, Vec<P::Fault>>,
    check: Option<DeleteCheck<P::Key>>,
    record: bool,
    active: usize,
}

struct Shared<P: Protocol> {
    state: Mutex<State<P>>,
    idle: Condvar,
    stop: AtomicBool,
}

impl<P: Protocol> Shared<P> {
    fn lock(&self) -> MutexGuard<'_, State<P>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A scripted server. Dropping it stops accepting connections.
pub struct Server<P: Protocol> {
    addr: SocketAddr,
    shared: Arc<Shared<P>>,
}

impl<P: Protocol> Server<P> {
    /// Starts a server with the default settings holding `store`.
    pub fn start(store: P::Store) -> Server<P> {
        Server::with_config(P::Config::default(), store)
    }

    /// Starts a server.
    pub fn with_config(config: P::Config, store: P::Store) -> Server<P> {
        let store = P::prepare(store);
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("bind the scripted {} server: {e}", P::NAME));
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                config,
                store,
                stats: Stats::default(),
                faults: BTreeMap::new(),
                check: None,
                record: false,
                active: 0,
            }),
            idle: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        thread::spawn(move || accept_loop(listener, sh));
        Server { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `SCHEME://alice@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{USER}@127.0.0.1:{}", P::SCHEME, self.port())
    }

    /// Schedules a fault for the next connection.
    pub fn fault_next(&self, fault: P::Fault) {
        let mut st = self.state();
        let next = st.stats.connections + 1;
        st.faults.entry(next).or_default().push(fault);
    }

    /// Schedules a fault for connection number `conn` (1-based, counting all connections).
    pub fn fault_on(&self, conn: usize, fault: P::Fault) {
        self.state().faults.entry(conn).or_default().push(fault);
    }

    /// Changes the settings for future connections.
    pub fn set_config(&self, config: P::Config) {
        self.state().config = config;
    }

    /// Installs a check run at every deletion request (POP3 DELE, IMAP STORE of `\Deleted`)
    /// of future connections; an `Err` becomes a violation.
    pub fn set_delete_check(&self, check: DeleteCheck<P::Key>) {
        self.state().check = Some(check);
    }

    /// Records every reply of future connections in [`Stats::replies`].
    pub fn record_replies(&self, on: bool) {
        self.state().record = on;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats<P::Key> {
        self.state().stats.clone()
    }

    /// A snapshot of the messages.
    pub fn store(&self) -> P::Store {
        self.state().store.clone()
    }

    /// Every message on the server now.
    pub fn keys(&self) -> BTreeSet<P::Key> {
        P::inventory(&self.state().store)
            .into_iter()
            .map(|s| s.key)
            .collect()
    }

    /// The messages on the server marked for deletion now (see [`Stored::marked`]).
    pub fn marked(&self) -> BTreeSet<P::Key> {
        P::inventory(&self.state().store)
            .into_iter()
            .filter(|s| s.marked)
            .map(|s| s.key)
            .collect()
    }

    /// The shared state, locked (for the protocols' own accessors).
    pub fn state(&self) -> MutexGuard<'_, State<P>> {
        self.shared.lock()
    }

    /// Waits until no connection is being served (e.g. after the client exited, so that the
    /// server has seen everything it sent). Panics after `limit`.
    pub fn wait_idle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut st = self.state();
        while st.active > 0 {
            let now = Instant::now();
            assert!(
                now < deadline,
                "scripted {} server still busy after {limit:?}",
                P::NAME
            );
            st = self
                .shared
                .idle
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl<P: Protocol> Drop for Server<P> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn accept_loop<P: Protocol>(listener: TcpListener, shared: Arc<Shared<P>>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let accepted = {
            let mut st = shared.lock();
            st.stats.connections += 1;
            st.active += 1;
            let number = st.stats.connections;
            conn::Accepted {
                number,
                faults: st.faults.remove(&number).unwrap_or_default(),
                config: st.config.clone(),
                check: st.check.clone(),
                record: st.record,
            }
        };
        let sh = shared.clone();
        thread::spawn(move || {
            let _ = conn::serve(&sh, stream, accepted);
            let mut st = sh.lock();
            st.active -= 1;
            sh.idle.notify_all();
        });
    }
}

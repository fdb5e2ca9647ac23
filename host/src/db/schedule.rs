//! The scheduler of PGlite's one session: who runs next, and for how long
//! an anonymous transaction may keep the session while others wait.
//!
//! Requests fall into three classes by their role: *service* (`service_role`,
//! the server's own work, loopback clients), *authenticated* (any other
//! role a token carries) and *anonymous* (the anonymous role), and within
//! the anonymous class into one flow per client address. The session goes
//! to the waiting flow that has used the least session time for its weight
//! (start-time fair queuing: service 8, authenticated 4, anonymous 1, each
//! anonymous address an equal share of the anonymous class), so anonymous
//! work gets the session whenever nobody else wants it, and under
//! contention at least 1/13 of it, never all of it:
//!
//! - **slice**: while another class or another anonymous address waits, an
//!   anonymous transaction keeps the session `pglite-anon-slice-ms` (200
//!   ms) at most; then its statement is cancelled (by the watchdog, as a
//!   statement timeout is) and it answers 503 `53300` with `Retry-After`.
//!   Authenticated and service-role transactions are never cut short (their
//!   own `statement_timeout` applies);
//! - **queue**: one anonymous address has `pglite-anon-queue-per-client` (64)
//!   transactions waiting at most; more answer 503 at once;
//! - **deadline**: a request waits for its turn until shortly before its
//!   request deadline; then it answers 503 without having run.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A request's class (see the module's comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Service = 0,
    Authenticated = 1,
    Anonymous = 2,
}

impl Class {
    const ALL: [Class; 3] = [Class::Service, Class::Authenticated, Class::Anonymous];

    fn weight(self) -> f64 {
        match self {
            Class::Service => 8.0,
            Class::Authenticated => 4.0,
            Class::Anonymous => 1.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Service => "service",
            Class::Authenticated => "authenticated",
            Class::Anonymous => "anon",
        }
    }
}

/// Who asks for the session.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub class: Class,
    /// The request's client address (anonymous flows are per address).
    pub client: Option<IpAddr>,
    /// Its turn must come before this (its request deadline, less a margin).
    pub wait_until: Option<Instant>,
}

impl Caller {
    /// The server's own work: first in line, no deadline.
    pub const SERVICE: Caller = Caller {
        class: Class::Service,
        client: None,
        wait_until: None,
    };
}

/// `pglite-anon-slice-ms` and `pglite-anon-queue-per-client`.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Zero: never cut short.
    pub anon_slice: Duration,
    /// Zero: no cap.
    pub anon_queue_per_client: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            anon_slice: Duration::from_millis(200),
            anon_queue_per_client: 64,
        }
    }
}

/// Why a request did not get the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its client has too many anonymous transactions waiting.
    QueueFull,
    /// Its turn would have come after its deadline.
    Deadline,
}

impl Refused {
    pub fn error(self) -> super::DbError {
        let message = match self {
            Refused::QueueFull => "the embedded database is busy: too many anonymous requests from this client are waiting for it",
            Refused::Deadline => "the embedded database is busy: the request's turn did not come before its deadline",
        };
        super::DbError::internal("53300", message)
    }
}

/// Cuts the holder's statement short: set by the scheduler, carried out by
/// PGlite's watchdog.
pub trait Cutter: Send + Sync {
    /// Cancel the running (or next) statement of the holder at `at`.
    fn cut_at(&self, at: Instant);
    /// The holder is done: no cut pending.
    fn uncut(&self);
}

struct Waiter {
    tx: oneshot::Sender<()>,
    id: u64,
    caller: Caller,
    since: Instant,
}

/// One flow: a class, or an anonymous address within its class.
#[derive(Default)]
struct Flow {
    /// Session time used (ms) over the weight, from the scheduler's clock.
    vtime: f64,
    waiting: VecDeque<Waiter>,
}

impl Flow {
    fn live(&self) -> usize {
        self.waiting.iter().filter(|w| !w.tx.is_closed()).count()
    }
}

/// Which flow the holder belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holder {
    class: Class,
    client: Option<IpAddr>,
    since: Instant,
}

#[derive(Default)]
struct State {
    holder: Option<Holder>,
    classes: [Flow; 3],
    /// The anonymous class's flows, by address (`None`: no address known).
    anon: HashMap<Option<IpAddr>, Flow>,
    /// The virtual time of the flow last given the session, per level.
    vclock: f64,
    anon_vclock: f64,
    next_id: u64,
}

impl State {
    fn flow(&mut self, caller: &Caller) -> &mut Flow {
        match caller.class {
            Class::Anonymous => self.anon.entry(caller.client).or_default(),
            c => &mut self.classes[c as usize],
        }
    }

    fn anon_waiting(&self) -> bool {
        self.anon.values().any(|f| !f.waiting.is_empty())
    }

    /// Whether anyone of class `c` waits.
    fn class_waits(&self, c: Class) -> bool {
        match c {
            Class::Anonymous => self.anon_waiting(),
            c => !self.classes[c as usize].waiting.is_empty(),
        }
    }

    /// Whether someone who is not of `holder`'s flow waits.
    fn others_wait(&self, h: &Holder) -> bool {
        Class::ALL.iter().any(|c| *c != h.class && self.class_waits(*c))
            || (h.class == Class::Anonymous
                && self
                    .anon
                    .iter()
                    .any(|(client, f)| *client != h.client && !f.waiting.is_empty()))
    }

    /// The next waiter, by least virtual time: among the classes, then
    /// among the anonymous addresses.
    fn pop(&mut self) -> Option<Waiter> {
        loop {
            let anon_min = self
                .anon
                .iter()
                .filter(|(_, f)| !f.waiting.is_empty())
                .min_by(|a, b| a.1.vtime.total_cmp(&b.1.vtime))
                .map(|(k, _)| *k);
            let class = Class::ALL
                .into_iter()
                .filter(|c| match c {
                    Class::Anonymous => anon_min.is_some(),
                    c => !self.classes[*c as usize].waiting.is_empty(),
                })
                .min_by(|a, b| {
                    self.classes[*a as usize]
                        .vtime
                        .total_cmp(&self.classes[*b as usize].vtime)
                        .then((*a as u8).cmp(&(*b as u8)))
                })?;
            self.vclock = self.classes[class as usize].vtime;
            let waiter = match class {
                Class::Anonymous => {
                    let flow = self.anon.get_mut(&anon_min?)?;
                    self.anon_vclock = flow.vtime;
                    flow.waiting.pop_front()
                }
                c => self.classes[c as usize].waiting.pop_front(),
            };
            if let Some(w) = waiter {
                return Some(w);
            }
        }
    }

    /// Charges `used` to `holder`'s flows.
    fn charge(&mut self, holder: &Holder, used: Duration) {
        let ms = used.as_secs_f64() * 1000.0;
        self.classes[holder.class as usize].vtime += ms / holder.class.weight();
        if holder.class == Class::Anonymous {
            self.anon.entry(holder.client).or_default().vtime += ms;
        }
        // Idle anonymous addresses with no credit left are forgotten.
        let clock = self.anon_vclock;
        self.anon
            .retain(|_, f| !f.waiting.is_empty() || f.vtime > clock);
    }
}

/// A histogram of waits (ms), Prometheus style.
const BUCKETS_MS: [u64; 11] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000];

#[derive(Default)]
struct ClassMetrics {
    waiting: AtomicU64,
    granted: AtomicU64,
    wait_buckets: [AtomicU64; BUCKETS_MS.len()],
    wait_sum_us: AtomicU64,
    held_us: AtomicU64,
    refused_queue: AtomicU64,
    refused_deadline: AtomicU64,
}

pub struct Scheduler {
    state: Mutex<State>,
    policy: Policy,
    cutter: Arc<dyn Cutter>,
    metrics: [ClassMetrics; 3],
}

/// The session, while held; the next waiter's when dropped.
pub struct Turn {
    scheduler: Arc<Scheduler>,
    holder: Holder,
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Turn({:?})", self.holder.class)
    }
}

/// A waiter's place in line: taken out of it when the wait ends, however.
struct Place<'a> {
    scheduler: &'a Arc<Scheduler>,
    caller: Caller,
    id: u64,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        let s = self.scheduler;
        let mut state = s.lock();
        s.metrics[self.caller.class as usize]
            .waiting
            .fetch_sub(1, Relaxed);
        if rx.try_recv().is_ok() {
            // Given the session just as it gave up: pass it on.
            s.cutter.uncut();
            s.next(&mut state);
        } else {
            let id = self.id;
            state.flow(&self.caller).waiting.retain(|w| w.id != id);
        }
    }
}

impl Scheduler {
    pub fn new(policy: Policy, cutter: Arc<dyn Cutter>) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            state: Mutex::new(State::default()),
            policy,
            cutter,
            metrics: Default::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the session's turn.
    pub async fn turn(self: &Arc<Self>, caller: Caller) -> Result<Turn, Refused> {
        let since = Instant::now();
        let metrics = &self.metrics[caller.class as usize];
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut state = self.lock();
            let idle = state.holder.is_none()
                && state.classes.iter().all(|f| f.waiting.is_empty())
                && !state.anon_waiting();
            if idle {
                let holder = self.grant(&mut state, caller, since);
                self.observe(caller.class, Duration::ZERO);
                return Ok(Turn {
                    scheduler: self.clone(),
                    holder,
                });
            }
            if caller.class == Class::Anonymous && self.policy.anon_queue_per_client > 0 {
                let queued = state.flow(&caller).live();
                if queued >= self.policy.anon_queue_per_client {
                    metrics.refused_queue.fetch_add(1, Relaxed);
                    return Err(Refused::QueueFull);
                }
            }
            state.next_id += 1;
            let id = state.next_id;
            let (vclock, anon_vclock) = (state.vclock, state.anon_vclock);
            let holding = state.holder;
            // A flow that was idle starts at the clock: no credit banked.
            if !state.class_waits(caller.class) && holding.is_none_or(|h| h.class != caller.class) {
                let class = &mut state.classes[caller.class as usize];
                class.vtime = class.vtime.max(vclock);
            }
            let flow = state.flow(&caller);
            if flow.waiting.is_empty() {
                let clock = if caller.class == Class::Anonymous {
                    anon_vclock
                } else {
                    vclock
                };
                flow.vtime = flow.vtime.max(clock);
            }
            flow.waiting.push_back(Waiter {
                tx,
                id,
                caller,
                since,
            });
            metrics.waiting.fetch_add(1, Relaxed);
            if let Some(h) = holding {
                if h.class == Class::Anonymous && state.others_wait(&h) {
                    self.cut(&h);
                }
            }
            id
        };
        let mut place = Place {
            scheduler: self,
            caller,
            id,
            rx: Some(rx),
        };
        let rx = place.rx.as_mut().expect("set above");
        let granted = match caller.wait_until {
            Some(until) => tokio::time::timeout_at(until.into(), rx).await.ok(),
            None => Some(rx.await),
        };
        match granted {
            Some(Ok(())) => {
                place.rx = None;
                metrics.waiting.fetch_sub(1, Relaxed);
                self.observe(caller.class, since.elapsed());
                let holder = self.lock().holder.expect("granted");
                Ok(Turn {
                    scheduler: self.clone(),
                    holder,
                })
            }
            // The scheduler never drops a sender it has not sent on
            // (`next` sends before it lets go); a closed one is a waiter
            // that gave up.
            Some(Err(_)) | None => {
                metrics.refused_deadline.fetch_add(1, Relaxed);
                drop(place);
                Err(Refused::Deadline)
            }
        }
    }

    fn grant(&self, state: &mut State, caller: Caller, now: Instant) -> Holder {
        let holder = Holder {
            class: caller.class,
            client: caller.client,
            since: now,
        };
        state.holder = Some(holder);
        self.metrics[caller.class as usize].granted.fetch_add(1, Relaxed);
        holder
    }

    /// Arms the cut of an anonymous holder's statement at the end of its slice.
    fn cut(&self, holder: &Holder) {
        if self.policy.anon_slice.is_zero() {
            return;
        }
        self.cutter.cut_at(holder.since + self.policy.anon_slice);
    }

    fn observe(&self, class: Class, waited: Duration) {
        let m = &self.metrics[class as usize];
        let ms = waited.as_millis() as u64;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                m.wait_buckets[i].fetch_add(1, Relaxed);
            }
        }
        m.wait_sum_us.fetch_add(waited.as_micros() as u64, Relaxed);
    }

    /// Gives the session to the next waiter (the state's holder is gone).
    fn next(&self, state: &mut State) {
        state.holder = None;
        while let Some(w) = state.pop() {
            let holder = self.grant(state, w.caller, Instant::now());
            if w.tx.send(()).is_ok() {
                if holder.class == Class::Anonymous && state.others_wait(&holder) {
                    self.cut(&holder);
                }
                return;
            }
            // Gave up meanwhile (its `Place` is being dropped and finds
            // itself gone from the queue).
            state.holder = None;
            self.metrics[holder.class as usize].granted.fetch_sub(1, Relaxed);
            let _ = w.since;
        }
    }

    /// The scheduler's metrics, Prometheus text.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let each = |out: &mut String, name: &str, help: &str, kind: &str, f: &dyn Fn(&ClassMetrics) -> String| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for c in Class::ALL {
                out.push_str(&f(&self.metrics[c as usize]).replace("{class}", c.name()));
            }
        };
        each(&mut out, "supalite_pglite_queue_length", "Transactions waiting for PGlite's session, by class.", "gauge",
            &|m| format!("supalite_pglite_queue_length{{class=\"{{class}}\"}} {}\n", m.waiting.load(Relaxed)));
        each(&mut out, "supalite_pglite_queue_wait_seconds", "How long transactions waited for PGlite's session, by class.", "histogram", &|m| {
            let mut s = String::new();
            for (i, b) in BUCKETS_MS.iter().enumerate() {
                s.push_str(&format!(
                    "supalite_pglite_queue_wait_seconds_bucket{{class=\"{{class}}\",le=\"{}\"}} {}\n",
                    *b as f64 / 1000.0,
                    m.wait_buckets[i].load(Relaxed)
                ));
            }
            let granted = m.granted.load(Relaxed);
            s.push_str(&format!(
                "supalite_pglite_queue_wait_seconds_bucket{{class=\"{{class}}\",le=\"+Inf\"}} {granted}\nsupalite_pglite_queue_wait_seconds_sum{{class=\"{{class}}\"}} {}\nsupalite_pglite_queue_wait_seconds_count{{class=\"{{class}}\"}} {granted}\n",
                m.wait_sum_us.load(Relaxed) as f64 / 1e6
            ));
            s
        });
        each(&mut out, "supalite_pglite_session_seconds_total", "Time PGlite's session was held, by class.", "counter",
            &|m| format!("supalite_pglite_session_seconds_total{{class=\"{{class}}\"}} {}\n", m.held_us.load(Relaxed) as f64 / 1e6));
        each(&mut out, "supalite_pglite_refused_total", "Transactions refused (503) without running: their client's queue was full, or their turn would have come after their deadline.", "counter",
            &|m| format!(
                "supalite_pglite_refused_total{{class=\"{{class}}\",reason=\"queue\"}} {}\nsupalite_pglite_refused_total{{class=\"{{class}}\",reason=\"deadline\"}} {}\n",
                m.refused_queue.load(Relaxed), m.refused_deadline.load(Relaxed)));
        out
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let s = &self.scheduler;
        let used = self.holder.since.elapsed();
        s.metrics[self.holder.class as usize]
            .held_us
            .fetch_add(used.as_micros() as u64, Relaxed);
        let mut state = s.lock();
        // Under the lock: a waiter arriving now cannot arm a cut for this
        // holder after it is withdrawn.
        s.cutter.uncut();
        state.charge(&self.holder, used);
        s.next(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Cuts(Mutex<Vec<Instant>>);
    impl Cutter for Cuts {
        fn cut_at(&self, at: Instant) {
            self.0.lock().unwrap().push(at);
        }
        fn uncut(&self) {}
    }

    fn caller(class: Class, client: u8) -> Caller {
        Caller {
            class,
            client: Some([10, 0, 0, client].into()),
            wait_until: None,
        }
    }

    #[tokio::test]
    async fn others_go_before_anonymous_work_and_cut_it_short() {
        let cuts = Arc::new(Cuts::default());
        let s = Scheduler::new(Policy::default(), cuts.clone());
        let first = s.turn(caller(Class::Anonymous, 1)).await.unwrap();
        // Three more from the same address wait; no cut while only it waits.
        let mut anon = Vec::new();
        for _ in 0..3 {
            let s = s.clone();
            anon.push(tokio::spawn(async move {
                let t = s.turn(caller(Class::Anonymous, 1)).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(t);
                Instant::now()
            }));
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(cuts.0.lock().unwrap().is_empty());
        // An authenticated request arrives: the holder's slice is armed.
        let auth = {
            let s = s.clone();
            tokio::spawn(async move {
                let t = s.turn(caller(Class::Authenticated, 2)).await.unwrap();
                drop(t);
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(cuts.0.lock().unwrap().len(), 1);
        drop(first);
        let auth_done = auth.await.unwrap();
        for a in anon {
            assert!(a.await.unwrap() > auth_done, "the authenticated request went first");
        }
    }

    #[tokio::test]
    async fn an_address_queue_is_capped_and_waits_end_at_the_deadline() {
        let s = Scheduler::new(
            Policy {
                anon_slice: Duration::from_millis(200),
                anon_queue_per_client: 2,
            },
            Arc::new(Cuts::default()),
        );
        let held = s.turn(Caller::SERVICE).await.unwrap();
        let mut waiting = Vec::new();
        for _ in 0..2 {
            let s = s.clone();
            waiting.push(tokio::spawn(async move { s.turn(caller(Class::Anonymous, 1)).await.map(drop) }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(s.turn(caller(Class::Anonymous, 1)).await.unwrap_err(), Refused::QueueFull);
        let mut late = caller(Class::Anonymous, 3);
        late.wait_until = Some(Instant::now() + Duration::from_millis(30));
        assert_eq!(s.turn(late).await.unwrap_err(), Refused::Deadline);
        drop(held);
        for w in waiting {
            assert!(w.await.unwrap().is_ok());
        }
        // Everything let go: the next caller gets the session at once.
        drop(s.turn(caller(Class::Anonymous, 1)).await.unwrap());
        assert!(s.prometheus().contains("supalite_pglite_refused_total{class=\"anon\",reason=\"queue\"} 1"));
    }

    #[tokio::test]
    async fn addresses_take_turns_within_the_anonymous_class() {
        let s = Scheduler::new(Policy::default(), Arc::new(Cuts::default()));
        let held = s.turn(Caller::SERVICE).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for client in [1, 1, 1, 2] {
            let (s, order) = (s.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let t = s.turn(caller(Class::Anonymous, client)).await.unwrap();
                std::thread::sleep(Duration::from_millis(5));
                order.lock().unwrap().push(client);
                drop(t);
            }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[..2].iter().filter(|c| **c == 2).count(), 1, "{order:?}");
    }
}

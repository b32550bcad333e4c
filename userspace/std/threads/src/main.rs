//! Conformance (Rust std): what a threaded Rust program uses, on top of clone, futex and TLS.
//! Threads hammering an `Arc<Mutex<_>>`, a `Condvar` hand-off, an `RwLock`, a `Barrier`,
//! `mpsc` channels (unbounded and rendezvous), `std::thread::scope`, `thread_local!` values that
//! are per thread, `park`/`unpark`, `OnceLock` and join results. Only results are printed, from
//! the main thread after joining, so the output is the same whatever the interleaving.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, OnceLock, RwLock};
use std::thread;

thread_local! {
    static LOCAL: Cell<u64> = const { Cell::new(0) };
}

static INIT: OnceLock<u64> = OnceLock::new();

fn main() {
    let mut failures = 0;
    let mut expect = |label: &str, got: String, want: &str| {
        if got == want {
            println!("{label}: {got}");
        } else {
            println!("{label}: {got} FAILED: expected {want}");
            failures += 1;
        }
    };

    // Mutex hammering: 8 threads x 10000 increments of a non-atomic counter.
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let c = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..10_000 {
                    *c.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    expect(
        "mutex counter after 8 x 10000",
        counter.lock().unwrap().to_string(),
        "80000",
    );

    // Condvar: a producer hands 100 values one at a time to a consumer.
    let slot = Arc::new((Mutex::new(None::<u64>), Condvar::new()));
    let consumer = {
        let slot = Arc::clone(&slot);
        thread::spawn(move || {
            let (m, cv) = &*slot;
            let mut sum = 0;
            for _ in 0..100 {
                let mut g = cv.wait_while(m.lock().unwrap(), |v| v.is_none()).unwrap();
                sum += g.take().unwrap();
                cv.notify_all();
            }
            sum
        })
    };
    {
        let (m, cv) = &*slot;
        for i in 1..=100 {
            let mut g = cv.wait_while(m.lock().unwrap(), |v| v.is_some()).unwrap();
            *g = Some(i);
            cv.notify_all();
        }
    }
    expect(
        "condvar hand-off sum of 1..=100",
        consumer.join().unwrap().to_string(),
        "5050",
    );

    // RwLock: readers and a writer.
    let data = Arc::new(RwLock::new(vec![0u64; 16]));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let d = Arc::clone(&data);
            thread::spawn(move || {
                for i in 0..1000 {
                    if i % 10 == 0 {
                        d.write().unwrap()[w] += 1;
                    } else {
                        let r = d.read().unwrap();
                        assert!(r.iter().all(|&x| x <= 100));
                    }
                }
            })
        })
        .collect();
    for h in writers {
        h.join().unwrap();
    }
    expect(
        "rwlock writes per writer",
        format!("{:?}", &data.read().unwrap()[..4]),
        "[100, 100, 100, 100]",
    );

    // Barrier: every thread sees everyone's arrival.
    let barrier = Arc::new(Barrier::new(6));
    let arrived = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..6)
        .map(|_| {
            let b = Arc::clone(&barrier);
            let a = Arc::clone(&arrived);
            thread::spawn(move || {
                a.fetch_add(1, Ordering::SeqCst);
                let leader = b.wait().is_leader();
                (a.load(Ordering::SeqCst), leader)
            })
        })
        .collect();
    let results: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    expect(
        "barrier: all 6 arrived before any left",
        results.iter().all(|&(n, _)| n == 6).to_string(),
        "true",
    );
    expect(
        "barrier leaders",
        results.iter().filter(|r| r.1).count().to_string(),
        "1",
    );

    // Channels: 4 producers, one consumer; a rendezvous channel.
    let (tx, rx) = mpsc::channel();
    for p in 0..4u64 {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..250 {
                tx.send(p * 1000 + i).unwrap();
            }
        });
    }
    drop(tx);
    let mut got: Vec<u64> = rx.iter().collect();
    got.sort_unstable();
    let expected: Vec<u64> = (0..4)
        .flat_map(|p| (0..250).map(move |i| p * 1000 + i))
        .collect();
    expect(
        "channel: 4 x 250 messages, each exactly once",
        (got == expected).to_string(),
        "true",
    );
    let (stx, srx) = mpsc::sync_channel::<u64>(0);
    let echo = thread::spawn(move || srx.iter().take(50).sum::<u64>());
    for i in 0..50 {
        stx.send(i).unwrap();
    }
    expect(
        "rendezvous channel sum of 0..50",
        echo.join().unwrap().to_string(),
        "1225",
    );

    // Scoped threads borrow from the stack.
    let mut chunks = [0u64; 8];
    let input: Vec<u64> = (1..=8000).collect();
    thread::scope(|s| {
        for (i, out) in chunks.iter_mut().enumerate() {
            let part = &input[i * 1000..(i + 1) * 1000];
            s.spawn(move || *out = part.iter().sum());
        }
    });
    expect(
        "scoped partial sums total",
        chunks.iter().sum::<u64>().to_string(),
        "32004000",
    );

    // thread_local!: each thread's value is its own.
    LOCAL.with(|l| l.set(7));
    let locals: Vec<u64> = (1..=4)
        .map(|i| {
            thread::spawn(move || {
                let before = LOCAL.with(Cell::get);
                LOCAL.with(|l| l.set(i * 100));
                thread::yield_now();
                before * 1000 + LOCAL.with(Cell::get)
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    expect(
        "thread-locals (initial*1000 + own)",
        format!("{locals:?}"),
        "[100, 200, 300, 400]",
    );
    expect(
        "main thread's local",
        LOCAL.with(Cell::get).to_string(),
        "7",
    );

    // park/unpark and OnceLock.
    let flag = Arc::new(AtomicUsize::new(0));
    let parked = {
        let flag = Arc::clone(&flag);
        thread::spawn(move || {
            while flag.load(Ordering::Acquire) == 0 {
                thread::park();
            }
            *INIT.get_or_init(|| 99)
        })
    };
    flag.store(1, Ordering::Release);
    parked.thread().unpark();
    expect(
        "parked thread woke and read OnceLock",
        parked.join().unwrap().to_string(),
        "99",
    );
    expect("OnceLock in main", INIT.get_or_init(|| 1).to_string(), "99");

    // A panicking thread is reported by join.
    let r = thread::Builder::new()
        .spawn(|| -> u32 { std::panic::resume_unwind(Box::new("on purpose")) })
        .unwrap()
        .join();
    expect(
        "a thread's panic is returned by join",
        r.is_err().to_string(),
        "true",
    );

    if failures == 0 {
        println!("std-threads: ok");
    } else {
        println!("std-threads: {failures} checks FAILED");
        std::process::exit(1);
    }
}

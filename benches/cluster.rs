//! Shared budgets on the indexer: claims per second against the fake indexer of the tests (an
//! in-process OpenSearch fake over loopback HTTP, so these are the client's costs, not a real
//! cluster's), one task and eight at once on one document, and what a claim adds to a job.
//!
//! `cargo bench --bench cluster` (figures in docs/benchmarks.md).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use ai_analyzer::config::Indexer;
use ai_analyzer::investigate::cluster::Shared;
use common::opensearch::FakeIndexer;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (server, fake) = FakeIndexer::start().await;
        let shared = Shared::new(
            Indexer {
                url: server.uri(),
                ..Indexer::default()
            },
            "ai-analyzer-state".into(),
        );
        let now = 1_800_000_000_000_i64;
        // Warm up: the index is created.
        let _ = shared.take_daily("warm", now, 10).await;

        let n = 500;
        let mut latencies = Vec::with_capacity(n);
        let started = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let fits = shared.take_daily("one", now, u32::MAX).await.expect("claim");
            assert!(fits);
            latencies.push(t.elapsed());
        }
        let took = started.elapsed();
        latencies.sort();
        println!(
            "one task: {n} claims in {:.2} s = {:.0} claims/s; latency median {:.2} ms, p99 {:.2} ms",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            ms(latencies[n / 2]),
            ms(latencies[n * 99 / 100])
        );

        let tasks = 8;
        let per = 100;
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let shared = shared.clone();
                tokio::spawn(async move {
                    for _ in 0..per {
                        shared.take_daily("many", now, u32::MAX).await.expect("claim");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        let took = started.elapsed();
        let counts = fake.counts();
        let total = tasks * per;
        println!(
            "{tasks} tasks on one document: {total} claims in {:.2} s = {:.0} claims/s; {} conflicts retried; count {}",
            took.as_secs_f64(),
            total as f64 / took.as_secs_f64(),
            fake.conflicts(),
            counts.get("budget-many-20833").copied().unwrap_or_default()
        );
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

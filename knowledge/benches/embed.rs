//! Embedding latency benchmark for both backends (multilingual-e5-small on candle, and the int8 graph on
//! onnxruntime): model load time, single-query latency percentiles, the cost of a 16-passage batch, and for
//! onnxruntime the throughput of one query stream per session. Needs the model files: run `scripts/fetch-models`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use knowledge::embed::{CandleE5, CandleE5Options, Embedder, ModelPaths, OrtE5, OrtE5Options, OrtPaths, TextKind};

const QUERY_RUNS: usize = 200;
const BATCH_RUNS: usize = 10;

/// Short campus-style queries; rotating through them keeps the timing honest without a cache.
const QUERIES: [&str; 8] = [
    "没钱交学费怎么办",
    "一卡通丢了",
    "怎么打印成绩单",
    "校园网连不上",
    "宿舍空调坏了找谁修",
    "研究生怎么申请出国交流",
    "请假条在哪里提交",
    "忘记统一身份认证密码",
];

const PASSAGES: [&str; 16] = [
    "学费缓交和绿色通道",
    "校园卡丢失后如何挂失与补办",
    "如何打印中英文成绩单",
    "校园网无法连接的常见处理方法",
    "一卡通充值与余额查询",
    "学生宿舍设施报修流程",
    "研究生国际交流项目申请",
    "学生请销假线上办理",
    "统一身份认证密码找回与重置",
    "在读证明开具与盖章",
    "奖学金评定办法和申请时间",
    "助学贷款办理指南：生源地信用助学贷款和校园地国家助学贷款的申请条件、材料与还款说明",
    "图书馆座位预约与违约规则",
    "教室借用申请",
    "毕业生离校手续办理清单",
    "网上办事服务大厅使用说明：登录方式、常用服务入口、办理进度查询以及常见问题解答",
];

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn bench_threads(paths: &ModelPaths, threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    let options = CandleE5Options { compute_threads: threads, ..CandleE5Options::default() };
    let load_started = Instant::now();
    let model = CandleE5::load(paths, options)?;
    let load_time = load_started.elapsed();
    println!("== candle, compute_threads = {threads} ({}) ==", model.model_id());
    println!("load: {:.0} ms", ms(load_time));
    bench_model(&model)
}

/// The onnxruntime backend: single-query latency on one session (one thread), then one query stream per
/// session at once.
fn bench_ort(paths: &OrtPaths) -> Result<(), Box<dyn std::error::Error>> {
    let load_started = Instant::now();
    let options = OrtE5Options::default();
    let model = OrtE5::load(paths, options.clone())?;
    let load_time = load_started.elapsed();
    println!(
        "== onnxruntime int8, {} sessions x {} thread ({}) ==",
        options.sessions,
        options.intra_threads,
        model.model_id()
    );
    println!("load: {:.0} ms", ms(load_time));
    bench_model(&model)?;
    let streams = model.parallelism();
    let per_stream = QUERY_RUNS * 2;
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), String> {
        let handles: Vec<_> = (0..streams)
            .map(|stream| {
                let model = &model;
                scope.spawn(move || -> Result<(), String> {
                    for run in 0..per_stream {
                        let query = QUERIES[(run + stream) % QUERIES.len()];
                        model.embed(&[query], TextKind::Query).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| "a stream panicked".to_owned())?)
    })?;
    let elapsed = started.elapsed();
    let total = streams * per_stream;
    println!(
        "{streams} concurrent query streams: {total} queries in {:.0} ms = {:.0} queries/s",
        ms(elapsed),
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// The optional libtorch backend, measured the same way (`--features rust-bert`, built and run
/// with the environment scripts/test-rust-bert sets up).
#[cfg(feature = "rust-bert")]
fn bench_rust_bert(paths: &ModelPaths, threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    let load_started = Instant::now();
    let model = knowledge::embed::RustBertE5::load(paths, threads)?;
    let load_time = load_started.elapsed();
    println!("== rust-bert, libtorch threads = {threads} ({}) ==", model.model_id());
    println!("load: {:.0} ms", ms(load_time));
    bench_model(&model)
}

fn bench_model(model: &dyn Embedder) -> Result<(), Box<dyn std::error::Error>> {
    for query in QUERIES {
        model.embed(&[query], TextKind::Query)?; // warm-up
    }
    let mut timings = Vec::with_capacity(QUERY_RUNS);
    for run in 0..QUERY_RUNS {
        let query = QUERIES[run % QUERIES.len()];
        let started = Instant::now();
        let vectors = model.embed(&[query], TextKind::Query)?;
        timings.push(started.elapsed());
        std::hint::black_box(vectors);
    }
    timings.sort();
    let mean = timings.iter().sum::<Duration>() / timings.len() as u32;
    println!(
        "single query ({QUERY_RUNS} runs): mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(mean),
        ms(percentile(&timings, 0.50)),
        ms(percentile(&timings, 0.99)),
        ms(timings[0]),
        ms(timings[timings.len() - 1]),
    );

    let mut batch_timings = Vec::with_capacity(BATCH_RUNS);
    model.embed(&PASSAGES, TextKind::Passage)?; // warm-up
    for _ in 0..BATCH_RUNS {
        let started = Instant::now();
        let vectors = model.embed(&PASSAGES, TextKind::Passage)?;
        batch_timings.push(started.elapsed());
        std::hint::black_box(vectors);
    }
    batch_timings.sort();
    let batch_mean = batch_timings.iter().sum::<Duration>() / batch_timings.len() as u32;
    println!(
        "batch of {} passages ({BATCH_RUNS} runs): mean {:.1} ms ({:.2} ms/passage), p50 {:.1} ms, max {:.1} ms",
        PASSAGES.len(),
        ms(batch_mean),
        ms(batch_mean) / PASSAGES.len() as f64,
        ms(percentile(&batch_timings, 0.50)),
        ms(batch_timings[batch_timings.len() - 1]),
    );
    Ok(())
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let Some(paths) = ModelPaths::find(&root) else {
        eprintln!("embed bench: model files not found under {}; run scripts/fetch-models first", root.display());
        return ExitCode::FAILURE;
    };
    // `cargo bench` passes `--bench`; thread counts to try can follow as plain numbers.
    let mut thread_counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    if thread_counts.is_empty() {
        thread_counts = vec![CandleE5Options::default().compute_threads, 1];
        thread_counts.dedup();
    }
    for threads in thread_counts {
        if let Err(err) = bench_threads(&paths, threads) {
            eprintln!("embed bench failed: {err}");
            return ExitCode::FAILURE;
        }
    }
    match OrtPaths::find(&root) {
        Some(ort_paths) => {
            if let Err(err) = bench_ort(&ort_paths) {
                eprintln!("embed bench (onnxruntime) failed: {err}");
                return ExitCode::FAILURE;
            }
        }
        None => eprintln!("embed bench: onnxruntime files not found; run scripts/fetch-models for the fast backend"),
    }
    #[cfg(feature = "rust-bert")]
    if let Err(err) = bench_rust_bert(&paths, CandleE5Options::default().compute_threads) {
        eprintln!("embed bench (rust-bert) failed: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

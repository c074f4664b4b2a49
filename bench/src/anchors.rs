//! The anchors measured in the same run: sipp steps and the SIP kit (`../shared/anchors/sip`), Kamailio beside us, rising rate runs and the ratios they print.

use super::*;

/// One sipp run at `rate` calls/s for `secs` seconds; (achieved calls/s, failed calls).
pub(crate) fn sipp_step(
    args: &[String],
    rate: u32,
    secs: u32,
    dir: &std::path::Path,
) -> Option<(f64, u64)> {
    let total = rate * secs;
    let start = Instant::now();
    let out = Command::new("timeout")
        .arg((secs + 60).to_string())
        .arg("sipp")
        .args(args)
        .args([
            "-r",
            &rate.to_string(),
            "-m",
            &total.to_string(),
            "-l",
            "50000",
            "-nostdin",
            "-timeout",
            &format!("{}s", secs + 50),
            "-max_retrans",
            "10",
        ])
        // DIALTONE_BENCH_SIPP_ERRORS=FILE: why failed calls failed, for a closer look.
        .args(
            std::env::var("DIALTONE_BENCH_SIPP_ERRORS")
                .map(|f| vec!["-trace_err".to_string(), "-error_file".to_string(), f])
                .unwrap_or_default(),
        )
        .current_dir(dir)
        .output()
        .ok()?;
    let elapsed = start.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let failed = text
        .lines()
        .find(|l| l.contains("Failed call"))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    Some((total as f64 / elapsed, failed))
}

/// sipp arguments for digest REGISTERs from the users in `users.csv` over UDP.
pub(crate) fn register_args(target: &str, scenario: &str) -> Vec<String> {
    [
        target,
        "-sf",
        scenario,
        "-inf",
        "users.csv",
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-t",
        "u1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A sipp scenario of the anchor kit, or (without the kit) the repository's copy of the same
/// name in `crates/sip/tests/sipp` (the kit's call and register scenarios, unchanged).
pub(crate) fn kit_scenario(kit: &Option<std::path::PathBuf>, name: &str) -> String {
    match kit {
        Some(k) => k.join("sipp").join(name).display().to_string(),
        None => format!(
            "{}/../crates/sip/tests/sipp/{name}",
            env!("CARGO_MANIFEST_DIR")
        ),
    }
}

/// The shared anchor kit (Kamailio + sipp scripts), when present beside the repository and
/// Kamailio is installed.
pub(crate) fn anchor_kit() -> Option<std::path::PathBuf> {
    let kit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/anchors/sip");
    let installed = Command::new("kamailio").arg("-v").output().is_ok();
    (kit.join("run-register.sh").exists() && installed).then_some(kit)
}

/// One step of a rising run: the rate reached, the operations that failed, and the CPU time
/// the server under test spent per completed operation (milliseconds), where it was measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Step {
    pub(crate) achieved: f64,
    pub(crate) failed: u64,
    pub(crate) cpu_ms: Option<f64>,
}

/// A sipp step (`run`: achieved/s and failures of `rate * secs` operations) against the node
/// `pid`, with the node's own CPU time (user + system) over the step per completed operation.
pub(crate) fn node_step(
    pid: u32,
    rate: u32,
    secs: u32,
    run: impl FnOnce() -> Option<(f64, u64)>,
) -> Option<Step> {
    let before = cpu_seconds(pid);
    let (achieved, failed) = run()?;
    let spent = cpu_seconds(pid) - before;
    let done = (rate * secs) as f64 - failed.min((rate * secs) as u64) as f64;
    Some(Step {
        achieved,
        failed,
        cpu_ms: (done > 0.0).then(|| spent * 1000.0 / done),
    })
}

/// One step of an anchor kit script against Kamailio, from the TSV line it prints: the rate
/// reached, the failures, and Kamailio's CPU per operation (`kam_cpu_per_reg`/`_call`).
pub(crate) fn kamailio_step(
    kit: &std::path::Path,
    script: &str,
    args: &[String],
    out: &std::path::Path,
) -> Option<Step> {
    let o = Command::new("bash")
        .arg(kit.join(script))
        .args(args)
        .env("ANCHORS_OUT", out)
        .env("QUIET_WAIT", "10")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text.lines().rev().find(|l| l.contains("achieved="))?;
    let field = |name: &str| {
        line.split('\t')
            .find_map(|f| f.strip_prefix(name))
            .map(|v| v.trim_end_matches("/s").trim_end_matches("ms").to_string())
    };
    let cpu = ["kam_cpu_per_reg=", "kam_cpu_per_call="]
        .iter()
        .find_map(|f| field(f)?.parse().ok());
    Some(Step {
        achieved: field("achieved=")?.parse().ok()?,
        failed: field("failed=")?.parse().ok()?,
        cpu_ms: cpu,
    })
}

/// One step of the kit's digest REGISTER run against Kamailio.
pub(crate) fn kamailio_register_step(
    kit: &std::path::Path,
    rate: u32,
    secs: u32,
    out: &std::path::Path,
) -> Option<Step> {
    let args = [rate.to_string(), "auth".to_string(), secs.to_string()];
    kamailio_step(kit, "run-register.sh", &args, out)
}

/// One step of the kit's call run through Kamailio.
pub(crate) fn kamailio_calls_step(
    kit: &std::path::Path,
    rate: u32,
    secs: u32,
    out: &std::path::Path,
) -> Option<Step> {
    kamailio_step(
        kit,
        "run-calls.sh",
        &[rate.to_string(), secs.to_string()],
        out,
    )
}

/// Rising steps of one scenario against Dialtone and (if given) Kamailio, alternating so both
/// see the same machine; each figure is its fastest step with under 0.1% failures.
pub(crate) fn rising(
    steps: &[u32],
    secs: u32,
    mut ours: impl FnMut(u32) -> Option<Step>,
    mut theirs: Option<&mut dyn FnMut(u32) -> Option<Step>>,
    what: &str,
) -> (Step, Step) {
    let (mut best, mut anchor) = (Step::default(), Step::default());
    let (mut ours_done, mut theirs_done) = (false, theirs.is_none());
    let clean = |rate: u32, s: &Step| {
        s.failed as f64 <= (rate * secs) as f64 * 0.001 && s.achieved >= rate as f64 * 0.9
    };
    for &rate in steps {
        if !ours_done {
            match ours(rate) {
                Some(s) if clean(rate, &s) => best = s,
                r => {
                    eprintln!("dialtone {what} step {rate}/s: {r:?}: stop");
                    ours_done = true
                }
            }
            eprintln!("dialtone {what} step {rate}/s done (best {best:?})");
        }
        if !theirs_done {
            match theirs.as_mut().and_then(|f| f(rate)) {
                Some(s) if clean(rate, &s) => anchor = s,
                r => {
                    eprintln!("kamailio {what} step {rate}/s: {r:?}: stop");
                    theirs_done = true
                }
            }
            eprintln!("kamailio {what} step {rate}/s done (best {anchor:?})");
        }
        if ours_done && theirs_done {
            break;
        }
    }
    (best, anchor)
}

/// The CPU each side spent per operation at its best clean step (the comparison a shared,
/// noisy machine disturbs least).
pub(crate) fn cpu_beside(ours: &Step, anchor: &Step, per: &str) -> String {
    let ms = |s: &Step| {
        s.cpu_ms
            .map(|c| format!("{:.0} µs", c * 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    match (ours.cpu_ms, anchor.cpu_ms) {
        (Some(a), Some(b)) if b > 0.0 => format!(
            "; CPU per {per}: {} beside Kamailio's {} ({:.2}x)",
            ms(ours),
            ms(anchor),
            a / b
        ),
        _ => format!("; CPU per {per}: {}", ms(ours)),
    }
}

pub(crate) fn ratio(ours: f64, anchor: f64, note: &str) -> String {
    if anchor > 0.0 {
        format!(
            "Kamailio {anchor:.0}/s same run, ratio {:.2}{note}",
            ours / anchor
        )
    } else {
        format!("Kamailio not run here (anchor kit or kamailio missing){note}")
    }
}

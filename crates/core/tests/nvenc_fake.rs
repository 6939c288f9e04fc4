//! NVENC plumbing against a fake driver: `tests/fake_nvenc/*.c` are compiled (with `cc`) into
//! a fake `libnvidia-encode.so.1` and `libcuda.so.1`, which the encoder is pointed at through
//! `STRIPECAST_NVENC_LIB` / `STRIPECAST_CUDA_LIB`. The fakes log every call to a file
//! (`FAKE_NVENC_LOG`) and can be told to fail at any step (`FAKE_NVENC_FAIL_AT`), so these
//! tests prove, without a GPU: loading, version negotiation, session set-up and
//! configuration, the upload, forced IDRs, paint-over reconfiguration, teardown order and
//! balance, and that every failure ends in x264 with a reason naming the step.
//!
//! The environment is process-wide, so the tests take a lock and run one at a time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use stripecast_core::encode::colour::ChromaLayout;
use stripecast_core::encode::hw::nvenc::{self, NvencConfig, NvencEncoder, NvencPreset};
use stripecast_core::encode::hw::{self, open_h264, open_h264_shared, HardwareChoice, HwRequest};
use stripecast_core::encode::{BgrxImage, EncodeRequest, Encoder, EncoderKind, StreamParams};
use stripecast_core::wire::nal_unit_types;

static LOCK: Mutex<()> = Mutex::new(());

const FAKE_VARS: [&str; 6] = [
    "FAKE_NVENC_FAIL_AT",
    "FAKE_NVENC_MAX_VERSION",
    "FAKE_NVENC_NO444",
    "FAKE_NVENC_NO_RECONFIGURE",
    "FAKE_CUDA_DEVICES",
    "FAKE_NVENC_LOG",
];

/// Compiles the fakes once per test process: (libnvidia-encode.so.1, libcuda.so.1).
fn fakes() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_nvenc");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("fake_nvenc_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let build = |source: &str, out: &str| {
            let out = dir.join(out);
            let status = Command::new(&cc)
                .args(["-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-o"])
                .arg(&out)
                .arg(src.join(source))
                .status()
                .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
            assert!(status.success(), "compiling {source} failed");
            out
        };
        (
            build("fake_nvenc.c", "libnvidia-encode.so.1"),
            build("fake_cuda.c", "libcuda.so.1"),
        )
    })
}

/// One test's view of the fake driver: holds the lock, owns the environment and the log.
struct Fake {
    log: PathBuf,
    _lock: MutexGuard<'static, ()>,
}

impl Fake {
    fn new(vars: &[(&str, &str)]) -> Fake {
        let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (nvenc_lib, cuda_lib) = fakes();
        for v in FAKE_VARS {
            std::env::remove_var(v);
        }
        std::env::set_var(nvenc::NVENC_LIB_ENV, nvenc_lib);
        std::env::set_var(nvenc::CUDA_LIB_ENV, cuda_lib);
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let log = nvenc_lib.with_file_name(format!(
            "calls-{}.log",
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&log);
        std::env::set_var("FAKE_NVENC_LOG", &log);
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        Fake { log, _lock: lock }
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn count(&self, prefix: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// Asserts that lines starting with `prefixes` occur in this order (others may come between).
fn assert_in_order(lines: &[String], prefixes: &[&str]) {
    let mut at = 0;
    for p in prefixes {
        match lines[at..].iter().position(|l| l.starts_with(p)) {
            Some(i) => at += i + 1,
            None => panic!(
                "`{p}` missing (or out of order) after line {at} in:\n{}",
                lines.join("\n")
            ),
        }
    }
}

const W: u32 = 320;
const H: u32 = 240;

fn params(fullcolor: bool) -> StreamParams {
    StreamParams {
        width: W,
        height: H,
        crf: 23,
        paint_over_crf: 15,
        rate_control: Default::default(),
        fullcolor,
        fps: 30.0,
        keyframe_interval_frames: 0,
    }
}

fn config(fullcolor: bool) -> NvencConfig {
    NvencConfig {
        params: params(fullcolor),
        preset: NvencPreset::P4,
        cuda_device: 0,
    }
}

fn request() -> HwRequest {
    HwRequest {
        params: params(false),
        vaapi_node: -1,
        use_cpu: false,
    }
}

fn solid(r: u8, g: u8, b: u8) -> Vec<u8> {
    [b, g, r, 0].repeat((W * H) as usize)
}

fn frame(t: u32) -> Vec<u8> {
    let mut px = vec![0u8; (W * H * 4) as usize];
    for (i, p) in px.chunks_exact_mut(4).enumerate() {
        let (x, y) = (i as u32 % W, i as u32 / W);
        p.copy_from_slice(&[((x + t * 4) % 256) as u8, (y % 256) as u8, 100, 0]);
    }
    px
}

fn img(px: &[u8]) -> BgrxImage<'_> {
    BgrxImage {
        data: px,
        stride: (W * 4) as usize,
        width: W,
        height: H,
    }
}

fn key(force: bool) -> EncodeRequest {
    EncodeRequest {
        force_key: force,
        paint_over: false,
        ..Default::default()
    }
}

/// BT.709 limited range, rounded.
fn bt709(r: u8, g: u8, b: u8) -> (i32, i32, i32) {
    let (r, g, b) = (r as f64 / 255.0, g as f64 / 255.0, b as f64 / 255.0);
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    (
        (16.0 + 219.0 * y).round() as i32,
        (128.0 + 224.0 * (b - y) / 1.8556).round() as i32,
        (128.0 + 224.0 * (r - y) / 1.5748).round() as i32,
    )
}

/// `key=value` pairs of a log line.
fn field(line: &str, key: &str) -> i32 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{key} not in {line}"))
        .parse()
        .unwrap()
}

#[test]
fn session_setup_three_frames_forced_idr_and_teardown_order() {
    let fake = Fake::new(&[]);
    let mut enc = NvencEncoder::open(&config(false)).unwrap();
    assert_eq!(enc.kind(), EncoderKind::Nvenc);
    assert_eq!(enc.device_name(), "Fake NVENC GPU 0");
    assert_eq!(enc.driver_api(), (12, 2));
    assert!(enc.notes().is_empty(), "{:?}", enc.notes());
    assert_eq!(enc.chroma(), ChromaLayout::I420);

    let mut outs = Vec::new();
    for (i, force) in [false, false, true].into_iter().enumerate() {
        let mut out = vec![0xEE; 10]; // a wire header in front stays untouched
        let r = enc
            .encode(img(&frame(i as u32)), key(force), &mut out)
            .unwrap();
        assert_eq!(&out[..10], &[0xEE; 10]);
        outs.push((r, out[10..].to_vec()));
    }
    // Frame 1 is an IDR by itself, frame 2 a P frame, frame 3 the requested IDR; every IDR
    // carries SPS + PPS; the last byte of the fake's payload is its picture number.
    let keys: Vec<bool> = outs.iter().map(|(r, _)| r.key).collect();
    assert_eq!(keys, [true, false, true]);
    assert!(outs.iter().all(|(r, _)| r.produced));
    assert_eq!(nal_unit_types(&outs[0].1), [7, 8, 5]);
    assert_eq!(nal_unit_types(&outs[1].1), [1]);
    assert_eq!(nal_unit_types(&outs[2].1), [7, 8, 5]);
    let numbers: Vec<u8> = outs.iter().map(|(_, o)| *o.last().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    drop(enc);

    let lines = fake.lines();
    assert_in_order(
        &lines,
        &[
            "NvEncodeAPIGetMaxSupportedVersion 0xc2",
            "NvEncodeAPICreateInstance version_ok=1",
            "cuInit flags=0",
            "cuDeviceGetCount 1",
            "cuDeviceGet 0",
            "cuCtxCreate flags=0 dev=0",
            "nvEncOpenEncodeSessionEx version_ok=1 device_type=1 device_set=1 api=0xc",
            "nvEncGetEncodeCaps caps=16",
            "nvEncGetEncodeCaps caps=17",
            "nvEncGetEncodePresetConfigEx preset=P4 tuning=3",
            // The preset's CBR, AQ, lookahead, 2-pass, B-frames, GOP 250 and AUDs are all
            // replaced: constant QP 23 (I 20), zero reorder delay, infinite GOP, no B-frames,
            // SPS/PPS on every IDR, 4:2:0, BT.709 limited-range VUI.
            "nvEncInitializeEncoder 320x240 fps=30/1 ptd=1 async=0 tuning=3 preset=P4 profile=high rc=0 qp=23/25/20 rcflags=0x200 multipass=0 gop=4294967295 fip=1 idr=4294967295 h264flags=0x1000 chroma=1 vui=1,5,0,1,1,1,1",
            "nvEncCreateInputBuffer 320x240 fmt=0x1",
            "nvEncCreateBitstreamBuffer",
            "nvEncUnlockInputBuffer",
            "nvEncEncodePicture n=1 flags=0x6 type=IDR frame=0 ts=0 pitch_ok=1 fmt=0x1 struct=1 qp=20",
            "nvEncLockBitstream size=25",
            "nvEncUnlockBitstream",
            "nvEncEncodePicture n=2 flags=0 type=P frame=1 ts=1 pitch_ok=1 fmt=0x1 struct=1 qp=23",
            "nvEncLockBitstream size=8",
            // FORCEIDR | OUTPUT_SPSPPS on the requested key frame.
            "nvEncEncodePicture n=3 flags=0x6 type=IDR frame=2 ts=2",
            // Teardown: end of stream, buffers, session, then the CUDA context.
            "nvEncEncodePicture EOS",
            "nvEncDestroyInputBuffer ok=1",
            "nvEncDestroyBitstreamBuffer ok=1",
            "nvEncDestroyEncoder buffers_left=0",
            "cuCtxDestroy balanced=1",
        ],
    );
    assert_eq!(fake.count("nvEncReconfigureEncoder"), 0);
    assert_eq!(fake.count("cuCtxDestroy"), 1);
    assert_eq!(fake.count("nvEncDestroyEncoder"), 1);
}

#[test]
fn upload_is_bt709_at_the_drivers_pitch_in_nv12_and_444() {
    let (r, g, b) = (200, 30, 90);
    let (y, u, v) = bt709(r, g, b);
    let near = |got: i32, want: i32| (got - want).abs() <= 1;
    for (vars, fullcolor, fmt, profile, chroma, note) in [
        (vec![], false, "0x1", "high", 1, false),
        (vec![], true, "0x1000", "high444", 3, false),
        (
            vec![("FAKE_NVENC_NO444", "1")],
            true,
            "0x1",
            "high",
            1,
            true,
        ),
    ] {
        let fake = Fake::new(&vars);
        let mut enc = NvencEncoder::open(&config(fullcolor)).unwrap();
        assert_eq!(
            enc.notes()
                .iter()
                .any(|n| n.contains("cannot encode H.264 4:4:4")),
            note,
            "{:?}",
            enc.notes()
        );
        assert_eq!(
            enc.chroma(),
            if chroma == 3 {
                ChromaLayout::I444
            } else {
                ChromaLayout::I420
            }
        );
        let mut out = Vec::new();
        enc.encode(img(&solid(r, g, b)), key(false), &mut out)
            .unwrap();
        drop(enc);
        let lines = fake.lines();
        assert_in_order(
            &lines,
            &[
                "nvEncInitializeEncoder 320x240",
                &format!("nvEncCreateInputBuffer 320x240 fmt={fmt}"),
            ],
        );
        let init = lines
            .iter()
            .find(|l| l.starts_with("nvEncInitializeEncoder"))
            .unwrap();
        assert!(init.contains(&format!("profile={profile} ")), "{init}");
        assert!(init.contains(&format!("chroma={chroma} ")), "{init}");
        let up = lines
            .iter()
            .find(|l| l.starts_with("nvEncUnlockInputBuffer"))
            .unwrap();
        for (k, want) in [
            ("y", y),
            ("u", u),
            ("v", v),
            ("ylast", y),
            ("ulast", u),
            ("vlast", v),
        ] {
            assert!(near(field(up, k), want), "{k}: {up} (want {want})");
        }
        // The bytes between the picture's width and the pitch are left alone.
        assert_eq!(field(up, "pad"), 0xAA, "{up}");
    }
}

#[test]
fn paint_over_reconfigures_the_qp_for_one_idr() {
    let fake = Fake::new(&[]);
    let mut enc = NvencEncoder::open(&config(false)).unwrap();
    let mut out = Vec::new();
    let paint = EncodeRequest {
        force_key: true,
        paint_over: true,
        ..Default::default()
    };
    for req in [key(false), paint, key(false), key(false)] {
        let r = enc.encode(img(&frame(0)), req, &mut out).unwrap();
        assert_eq!(r.key, req.force_key || out.len() == 25);
        out.clear();
    }
    drop(enc);
    assert_in_order(
        &fake.lines(),
        &[
            "nvEncEncodePicture n=1 flags=0x6 type=IDR",
            // paint_over_crf 15: QPs 15 / 17 / 12, with an IDR forced by the reconfiguration.
            "nvEncReconfigureEncoder qp=15/17/12 force_idr=1 reset=0 size=320x240",
            "nvEncEncodePicture n=2 flags=0x6 type=IDR frame=1 ts=1 pitch_ok=1 fmt=0x1 struct=1 qp=12",
            "nvEncReconfigureEncoder qp=23/25/20 force_idr=0 reset=0 size=320x240",
            "nvEncEncodePicture n=3 flags=0 type=P frame=2 ts=2 pitch_ok=1 fmt=0x1 struct=1 qp=23",
            "nvEncEncodePicture n=4 flags=0 type=P",
        ],
    );
    assert_eq!(fake.count("nvEncReconfigureEncoder"), 2);
    drop(fake);

    // A driver that refuses reconfiguration: the paint-over is still an IDR (at the normal
    // QP), the stream goes on, and no further reconfiguration is attempted.
    let fake = Fake::new(&[("FAKE_NVENC_NO_RECONFIGURE", "1")]);
    let mut enc = NvencEncoder::open(&config(false)).unwrap();
    for req in [key(false), paint, key(false), paint] {
        let r = enc.encode(img(&frame(0)), req, &mut out).unwrap();
        assert!(r.produced);
        out.clear();
    }
    assert!(
        enc.notes()
            .iter()
            .any(|n| n.contains("nvEncReconfigureEncoder failed")
                && n.contains("paint-overs are plain IDRs")),
        "{:?}",
        enc.notes()
    );
    drop(enc);
    assert_in_order(
        &fake.lines(),
        &[
            "nvEncReconfigureEncoder qp=15/17/12 force_idr=1",
            "nvEncEncodePicture n=2 flags=0x6 type=IDR frame=1 ts=1 pitch_ok=1 fmt=0x1 struct=1 qp=20",
            "nvEncEncodePicture n=4 flags=0x6 type=IDR",
        ],
    );
    assert_eq!(fake.count("nvEncReconfigureEncoder"), 1);
}

#[test]
fn version_negotiation_declines_drivers_older_than_api_12() {
    let fake = Fake::new(&[("FAKE_NVENC_MAX_VERSION", "0x90")]);
    let e = NvencEncoder::open(&config(false)).err().unwrap();
    assert_eq!(e.step(), "NvEncodeAPIGetMaxSupportedVersion");
    assert_eq!(
        e.to_string(),
        "nvenc: the driver supports NVENC API 9.0, stripecast needs 12.0 (NVIDIA driver 520.56 or newer)"
    );
    // Nothing beyond the version query was touched.
    assert_eq!(fake.lines(), ["NvEncodeAPIGetMaxSupportedVersion 0x90"]);
    let p = nvenc::probe();
    assert!(!p.available);
    assert_eq!(p.reason.as_deref(), Some(e.to_string().as_str()));
    drop(fake);

    // Exactly 12.0 is enough.
    let _fake = Fake::new(&[("FAKE_NVENC_MAX_VERSION", "0xc0")]);
    let enc = NvencEncoder::open(&config(false)).unwrap();
    assert_eq!(enc.driver_api(), (12, 0));
}

#[test]
fn every_failing_step_falls_back_to_x264_naming_the_step() {
    let steps = [
        ("NvEncodeAPICreateInstance", "NV_ENC_ERR_GENERIC"),
        ("cuInit", "CUDA_ERROR_NO_DEVICE"),
        ("cuDeviceGet", "CUDA_ERROR_INVALID_VALUE"),
        ("cuCtxCreate", "CUDA_ERROR_INVALID_VALUE"),
        ("nvEncOpenEncodeSessionEx", "NV_ENC_ERR_UNSUPPORTED_PARAM"),
        ("nvEncGetEncodeCaps", "NV_ENC_ERR_GENERIC"),
        (
            "nvEncGetEncodePresetConfigEx",
            "NV_ENC_ERR_UNSUPPORTED_PARAM",
        ),
        ("nvEncInitializeEncoder", "NV_ENC_ERR_INVALID_PARAM"),
        ("nvEncCreateInputBuffer", "NV_ENC_ERR_OUT_OF_MEMORY"),
        ("nvEncCreateBitstreamBuffer", "NV_ENC_ERR_OUT_OF_MEMORY"),
    ];
    for (step, status) in steps {
        let fake = Fake::new(&[("FAKE_NVENC_FAIL_AT", step)]);
        let (mut enc, info) = open_h264(&request()).unwrap();
        assert_eq!(enc.kind(), EncoderKind::X264, "{step}");
        assert_eq!(info.encoder, EncoderKind::X264, "{step}");
        assert!(!info.hardware && info.device.is_none(), "{step}: {info:?}");
        assert_eq!(info.declined.len(), 1, "{step}: {info:?}");
        let reason = &info.declined[0];
        assert!(
            reason.starts_with(&format!("nvenc: {step} failed: {status}")),
            "{step}: {reason}"
        );
        if step.starts_with("nvEnc") && step != "nvEncOpenEncodeSessionEx" {
            // Session-level failures carry the driver's last-error string.
            assert!(
                reason.ends_with(&format!(": fake failure in {step}")),
                "{reason}"
            );
        }
        // The stream works on x264: a real IDR, not the fake's bytes.
        let mut out = Vec::new();
        let r = enc.encode(img(&frame(1)), key(false), &mut out).unwrap();
        assert!(r.key && r.produced);
        let t = nal_unit_types(&out);
        assert!(t.contains(&7) && t.contains(&8) && t.contains(&5), "{t:?}");
        assert!(out.len() > 100);
        // Whatever was created before the failure was released, in order.
        let lines = fake.lines();
        assert!(
            lines.iter().any(|l| l == &format!("{step} FAIL")),
            "{lines:?}"
        );
        // Calls logged, less those that failed (a failing call logs its attempt and FAIL).
        let created = |p: &str| {
            let attempts = lines
                .iter()
                .filter(|l| l.starts_with(p) && !l.ends_with("FAIL"))
                .count();
            attempts - lines.iter().filter(|l| **l == format!("{p} FAIL")).count()
        };
        let ctx = created("cuCtxCreate");
        assert_eq!(
            ctx,
            fake.count("cuCtxDestroy balanced=1"),
            "{step}: {lines:?}"
        );
        let session = lines
            .iter()
            .position(|l| l.starts_with("nvEncOpenEncodeSessionEx"))
            .is_some()
            && step != "nvEncOpenEncodeSessionEx";
        assert_eq!(
            fake.count("nvEncDestroyEncoder buffers_left=0"),
            usize::from(session),
            "{step}: {lines:?}"
        );
        let input = created("nvEncCreateInputBuffer");
        assert_eq!(input, fake.count("nvEncDestroyInputBuffer ok=1"), "{step}");
        if input == 1 {
            assert_in_order(
                &lines,
                &[
                    "nvEncDestroyInputBuffer ok=1",
                    "nvEncDestroyEncoder",
                    "cuCtxDestroy",
                ],
            );
        }
        assert_eq!(
            fake.count("nvEncDestroyBitstreamBuffer ok=1"),
            0,
            "no bitstream buffer was ever created in a failed open"
        );
    }
}

#[test]
fn missing_libraries_and_use_cpu_fall_back_cleanly() {
    let fake = Fake::new(&[]);
    std::env::set_var(nvenc::NVENC_LIB_ENV, "/nonexistent/libnvidia-encode.so.1");
    let (enc, info) = open_h264(&request()).unwrap();
    assert_eq!(enc.kind(), EncoderKind::X264);
    assert_eq!(
        info.declined,
        ["nvenc: /nonexistent/libnvidia-encode.so.1 not found"]
    );
    assert_eq!(
        hw::choose(-1, false),
        HardwareChoice::Software {
            reason: Some("nvenc: /nonexistent/libnvidia-encode.so.1 not found".into())
        }
    );
    assert!(fake.lines().is_empty());
    drop(fake);

    let fake = Fake::new(&[]);
    std::env::set_var(nvenc::CUDA_LIB_ENV, "/nonexistent/libcuda.so.1");
    let (_, info) = open_h264(&request()).unwrap();
    assert_eq!(
        info.declined,
        ["nvenc: /nonexistent/libcuda.so.1 not found"]
    );
    drop(fake);

    // useCpu and an explicit VA-API node never touch NVENC, even though it is "installed".
    let fake = Fake::new(&[]);
    let (enc, info) = open_h264(&HwRequest {
        use_cpu: true,
        ..request()
    })
    .unwrap();
    assert_eq!((enc.kind(), info.declined.len()), (EncoderKind::X264, 0));
    let (_, info) = open_h264(&HwRequest {
        vaapi_node: 63,
        ..request()
    })
    .unwrap();
    assert_eq!(info.encoder, EncoderKind::X264);
    assert!(info.declined[0].starts_with("vaapi: "), "{info:?}");
    assert!(fake.lines().is_empty(), "{:?}", fake.lines());
}

#[test]
fn open_h264_uses_nvenc_and_survives_a_mid_stream_failure() {
    let fake = Fake::new(&[("FAKE_NVENC_FAIL_AT", "nvEncEncodePicture#3")]);
    let (mut enc, info) = open_h264_shared(&request()).unwrap();
    {
        let i = info.lock().unwrap();
        assert_eq!(i.encoder, EncoderKind::Nvenc);
        assert!(i.hardware);
        assert_eq!(i.device.as_deref(), Some("Fake NVENC GPU 0"));
        assert!(i.declined.is_empty());
    }
    assert_eq!(enc.kind(), EncoderKind::Nvenc);
    let mut outs = Vec::new();
    for t in 0..4 {
        let mut out = Vec::new();
        let r = enc.encode(img(&frame(t)), key(false), &mut out).unwrap();
        outs.push((r, out, enc.kind()));
        if t == 2 {
            // The failed NVENC session is gone by the time the frame is delivered.
            assert_in_order(
                &fake.lines(),
                &[
                    "nvEncEncodePicture FAIL",
                    "nvEncDestroyInputBuffer ok=1",
                    "nvEncDestroyBitstreamBuffer ok=1",
                    "nvEncDestroyEncoder buffers_left=0",
                    "cuCtxDestroy balanced=1",
                ],
            );
        }
    }
    // Frames 1-2 from NVENC (the fake's bytes), 3 an x264 IDR, 4 an x264 P frame.
    assert_eq!(outs[0].1.len(), 25);
    assert_eq!(outs[1].1, [0, 0, 0, 1, 0x41, 0x9a, 0x02, 2]);
    assert_eq!(
        (outs[0].2, outs[1].2),
        (EncoderKind::Nvenc, EncoderKind::Nvenc)
    );
    let (r3, out3, name3) = &outs[2];
    assert!(r3.key && r3.produced);
    assert_eq!(*name3, EncoderKind::X264);
    let t3 = nal_unit_types(out3);
    assert!(
        t3.contains(&7) && t3.contains(&8) && t3.contains(&5),
        "{t3:?}"
    );
    assert!(!outs[3].0.key && outs[3].0.produced);
    // x264 with threads 0 may cut a picture into several slices.
    let t4 = nal_unit_types(&outs[3].1);
    assert!(!t4.is_empty() && t4.iter().all(|&t| t == 1), "{t4:?}");
    let i = info.lock().unwrap().clone();
    assert_eq!(i.encoder, EncoderKind::X264);
    assert!(!i.hardware && i.device.is_none());
    assert_eq!(i.declined.len(), 1);
    assert!(
        i.declined[0].starts_with("nvenc failed mid-stream")
            && i.declined[0].contains("nvEncEncodePicture failed: NV_ENC_ERR_GENERIC")
            && i.declined[0].ends_with("switched to x264"),
        "{i:?}"
    );
    // The x264 part is a stream of its own that FFmpeg decodes.
    let x264: Vec<u8> = outs[2].1.iter().chain(&outs[3].1).copied().collect();
    if let Ok(o) = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "h264", "-i", "-", "-f", "null", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&x264)?;
            c.wait_with_output()
        })
    {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    drop(enc);
    drop(fake);
}

#[test]
fn the_encoder_moves_between_threads_with_its_cuda_context() {
    let fake = Fake::new(&[]);
    let mut enc = NvencEncoder::open(&config(false)).unwrap();
    let mut out = Vec::new();
    enc.encode(img(&frame(0)), key(false), &mut out).unwrap();
    let enc = std::thread::spawn(move || {
        let mut enc = enc;
        let mut out = Vec::new();
        let r = enc.encode(img(&frame(1)), key(false), &mut out).unwrap();
        assert!(!r.key && r.produced);
        enc
    })
    .join()
    .unwrap();
    drop(enc);
    // The fake keeps one context stack per thread: every push was popped on its own thread.
    assert_eq!(
        fake.count("cuCtxDestroy balanced=1 pushes=4"),
        1,
        "{:?}",
        fake.lines()
    );
}

#[test]
fn probe_reports_the_driver_without_opening_a_session() {
    let fake = Fake::new(&[]);
    let report = hw::probe::probe();
    assert!(report.nvenc.available, "{report:?}");
    assert_eq!(report.nvenc.driver_api, Some((12, 2)));
    assert_eq!(report.nvenc.devices, ["Fake NVENC GPU 0"]);
    assert_eq!(report.nvenc.reason, None);
    assert_eq!(report.default_choice, HardwareChoice::Nvenc);
    assert_eq!(fake.count("nvEncOpenEncodeSessionEx"), 0);
    drop(fake);

    let _fake = Fake::new(&[("FAKE_CUDA_DEVICES", "0")]);
    let p = nvenc::probe();
    assert!(!p.available);
    assert_eq!(p.driver_api, Some((12, 2)));
    assert_eq!(p.reason.as_deref(), Some("nvenc: no CUDA device"));
    let e = NvencEncoder::open(&config(false)).err().unwrap();
    assert_eq!(e.to_string(), "nvenc: no CUDA device");
}

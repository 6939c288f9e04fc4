//! Property test of settings validation (`CaptureOptions::validate`, every setting of the table
//! generated from its descriptor in `SETTINGS`) and region fitting
//! (`RegionRequest::clamp`) with pseudo-random inputs from a small xorshift generator (no extra
//! crates). Properties:
//!
//! - neither ever panics;
//! - every accepted config is within the ranges the settings table documents, and keeps every
//!   value that was given (nothing is silently clamped; defaults fill what was not given);
//! - every error names a field that was actually given, and its message starts with that field;
//! - `clamp` keeps the origin, fits the screen, never grows a size, rounds to even for H.264, and
//!   fails exactly when the region cannot be fitted.
//!
//! `STRIPECAST_FUZZ_SEED` and `STRIPECAST_FUZZ_ITERS` override the seed and the number of cases;
//! a failure prints the seed and the case number.

use std::panic::{catch_unwind, AssertUnwindSafe};

use stripecast_core::settings::{
    CaptureOptions, Config, JsType, OutputMode, RawValue, RegionRequest, MAX_DIMENSION, SETTINGS,
};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (self.next() as u128 % span) as i128) as i64
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    env_u64("STRIPECAST_FUZZ_SEED", 0x005e_ed57_159e_ca57)
}

/// How invalid a generated case tends to be.
struct Mix {
    /// Probability that a field is given at all.
    given: f64,
    /// Probability that a given field is outside its range.
    wild: f64,
}

/// An integer field with allowed range lo..=hi: None, an in-range value, or something else
/// (the edges just outside, extremes, anything).
fn int_field(r: &mut Rng, m: &Mix, lo: i64, hi: i64) -> Option<i64> {
    if !r.chance(m.given) {
        return None;
    }
    if !r.chance(m.wild) {
        return Some(match r.below(4) {
            0 => lo,
            1 => hi,
            _ => r.range(lo, hi),
        });
    }
    Some(match r.below(8) {
        0 => lo.saturating_sub(1),
        1 => hi.saturating_add(1),
        2 => i64::MIN,
        3 => i64::MAX,
        4 => -(r.below(1 << 20) as i64) - 1,
        5 => r.next() as i64,
        6 => r.range(lo.saturating_sub(1000), hi.saturating_add(1000)),
        _ => *r.pick(&[
            0,
            -1,
            1,
            2,
            7,
            8,
            52,
            101,
            241,
            4097,
            16384,
            16385,
            1 << 31,
            1 << 32,
        ]),
    })
}

/// A float field with allowed range (lo, hi] or [lo, hi].
fn float_field(r: &mut Rng, m: &Mix, lo: f64, hi: f64) -> Option<f64> {
    if !r.chance(m.given) {
        return None;
    }
    let unit = (r.next() >> 11) as f64 / (1u64 << 53) as f64;
    if !r.chance(m.wild) {
        return Some(match r.below(4) {
            0 => hi,
            1 => lo + (hi - lo) * unit.max(1e-9),
            _ => (lo + (hi - lo) * unit).max(f64::MIN_POSITIVE),
        });
    }
    Some(*r.pick(&[
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        -1.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        hi + 1e-9,
        hi * 2.0,
        lo - 1.0,
        240.000_000_1,
        3600.5,
        1e300,
        -1e300,
        unit * 1e6 - 5e5,
    ]))
}

fn bool_field(r: &mut Rng, m: &Mix) -> Option<bool> {
    r.chance(m.given).then(|| r.chance(0.5))
}

fn random_string(r: &mut Rng, pool: &[&str], max_parts: u64) -> String {
    let n = r.below(max_parts + 1);
    (0..n).map(|_| *r.pick(pool)).collect()
}

/// A monitor: an index (now and then out of range) or a name (now and then empty).
fn monitor_field(r: &mut Rng, m: &Mix) -> Option<RawValue> {
    if !r.chance(m.given) {
        return None;
    }
    let wild = r.chance(m.wild);
    Some(match (r.below(2), wild) {
        (0, false) => RawValue::Int(r.below(64) as i64),
        (0, true) => RawValue::Int(*r.pick(&[-1, 64, 1 << 40])),
        (_, false) => RawValue::Text(r.pick(&["DP-1", "screen", "HDMI-A-1", "left"]).to_string()),
        (_, true) => RawValue::Text(r.pick(&["", "a\0b"]).to_string()),
    })
}

fn display_field(r: &mut Rng, m: &Mix) -> Option<String> {
    if !r.chance(m.given) {
        return None;
    }
    if !r.chance(m.wild) {
        return Some(
            r.pick(&[
                ":0",
                ":99",
                ":1.0",
                "unix:3",
                "localhost:10.0",
                "host-1.example:7.2",
            ])
            .to_string(),
        );
    }
    Some(match r.below(3) {
        0 => r
            .pick(&[
                "",
                ":",
                "::",
                ":0.",
                ":.0",
                ":a",
                ":-1",
                ":123456",
                "hello",
                ":0; rm -rf /",
                ":0 ",
                " :0",
                ":0\n",
                ":0\0",
                "$(reboot):0",
                "`id`:0",
                "h\u{e9}te:0",
                ":\u{661}",
                "a:b:0",
                "../../etc/passwd:0",
            ])
            .to_string(),
        1 => random_string(
            r,
            &[
                ":",
                ".",
                "0",
                "9",
                "a",
                "-",
                "_",
                "/",
                ";",
                " ",
                "\0",
                "\u{e9}",
                "\u{1f600}",
                "$",
                "|",
            ],
            24,
        ),
        _ => ":".repeat(r.below(3) as usize) + &"9".repeat(r.below(12) as usize),
    })
}

fn path_field(r: &mut Rng, m: &Mix) -> Option<String> {
    if !r.chance(m.given) {
        return None;
    }
    Some(random_string(
        r,
        &["/", "tmp", "a.png", "..", " ", "\0", "\u{e9}", "x", "."],
        8,
    ))
}

/// A choice spelt as a string: one of `names`, or (wild) a near miss of one.
fn name_field(r: &mut Rng, m: &Mix, names: &[&str]) -> Option<String> {
    if !r.chance(m.given) {
        return None;
    }
    let name = r.pick(names).to_string();
    if !r.chance(m.wild) {
        return Some(name);
    }
    Some(match r.below(7) {
        0 => name.to_uppercase(),
        1 => format!(" {name}"),
        2 => format!("{name}\0"),
        3 => name[..name.len() - 1].to_string(),
        4 => String::new(),
        5 => "\u{e9}".into(),
        _ => name.replace('4', ":"),
    })
}

/// The documented range of a number setting, `(lo, hi]` or `lo..=hi`, as bounds and whether
/// the low bound is excluded.
fn span(range: &str) -> (f64, f64, bool) {
    if let Some(inner) = range.strip_prefix('(').and_then(|r| r.strip_suffix(']')) {
        let (lo, hi) = inner.split_once(", ").expect("(lo, hi]");
        return (lo.parse().unwrap(), hi.parse().unwrap(), true);
    }
    let (lo, hi) = range.split_once("..=").expect("lo..=hi");
    (lo.parse().unwrap(), hi.parse().unwrap(), false)
}

/// Random options: every setting of the table given or not, in range or (with `Mix::wild`)
/// anywhere, as the binding would hand them over.
fn random_options(r: &mut Rng) -> CaptureOptions {
    let m = match r.below(4) {
        0 => Mix {
            given: 0.5,
            wild: 0.0,
        },
        1 => Mix {
            given: 0.5,
            wild: 0.02,
        },
        2 => Mix {
            given: 0.7,
            wild: 0.1,
        },
        _ => Mix {
            given: 0.9,
            wild: 0.5,
        },
    };
    let mut o = CaptureOptions::default();
    for s in SETTINGS {
        let info = (s.info)();
        let value = match (info.js, info.bounds) {
            (JsType::Boolean, _) => bool_field(r, &m).map(RawValue::Bool),
            (JsType::Number | JsType::NumberOrName, Some((lo, hi))) => {
                int_field(r, &m, lo, hi).map(|v| {
                    // A range that asks for multiples: in-range values mostly are.
                    let multiple = info.range.starts_with("multiple of 8");
                    match multiple && (lo..=hi).contains(&v) && r.chance(0.8) {
                        true => RawValue::Int(v / 8 * 8),
                        false => RawValue::Int(v),
                    }
                })
            }
            (JsType::Number, None) => {
                let (lo, hi, _) = span(&info.range);
                float_field(r, &m, lo, hi).map(RawValue::Number)
            }
            (JsType::String, _) if !info.names.is_empty() => {
                name_field(r, &m, info.names).map(RawValue::Text)
            }
            (JsType::String, _) if s.js == "display" => display_field(r, &m).map(RawValue::Text),
            (JsType::String, _) => path_field(r, &m).map(RawValue::Text),
            (JsType::NumberOrName, None) => unreachable!("{}: a choice has bounds", s.js),
            (JsType::NumberOrString, _) => monitor_field(r, &m),
        };
        if let Some(v) = value {
            assert!(o.set(s.js, v), "{}: a value of its raw type", s.js);
        }
    }
    o
}

/// The shape `validate` documents for displays: `[host]:display[.screen]`.
fn display_shape_ok(d: &str) -> bool {
    let wayland = d.strip_prefix("wayland-").is_some_and(|n| {
        !n.is_empty()
            && n.len() <= 16
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    if wayland || (d.starts_with('/') && d.len() > 1 && !d.contains('\0')) {
        return true;
    }
    let Some((host, rest)) = d.rsplit_once(':') else {
        return false;
    };
    let (num, screen) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
        && digits(num)
        && screen.is_none_or(digits)
}

/// Checks an accepted config against the documented ranges and the options it came from.
fn check_config(o: &CaptureOptions, c: &Config) -> Result<(), String> {
    for s in SETTINGS {
        let (given, got) = (o.shown(s.js), c.shown(s.js).expect("every setting shows"));
        // Given values are kept as given (no silent clamping); missing ones get the defaults.
        let want = given.clone().unwrap_or_else(s.default);
        if got != want {
            return Err(format!("{}: given {given:?}, config has {got}", s.js));
        }
        let Some(given) = given else { continue };
        let info = (s.info)();
        let in_range = match (info.js, info.bounds) {
            (JsType::Number | JsType::NumberOrName, Some((lo, hi))) => {
                let v: i64 = given.split(' ').next().unwrap().parse().unwrap();
                (lo..=hi).contains(&v) && (!info.range.starts_with("multiple of 8") || v % 8 == 0)
            }
            (JsType::Number, None) => {
                let v: f64 = given.parse().unwrap();
                let (lo, hi, open) = span(&info.range);
                v.is_finite() && v <= hi && if open { v > lo } else { v >= lo }
            }
            (JsType::String, _) if !info.names.is_empty() => {
                info.names.iter().any(|n| given == format!("'{n}'"))
            }
            (JsType::String, _) if s.js == "display" => display_shape_ok(given.trim_matches('\'')),
            _ => true,
        };
        if !in_range {
            return Err(format!("{}: accepted {given} ({})", s.js, info.range));
        }
    }
    Ok(())
}

#[test]
fn validate_never_panics_accepts_only_documented_ranges_and_names_the_field() {
    let seed = seed();
    let iters = env_u64("STRIPECAST_FUZZ_ITERS", 100_000);
    let mut r = Rng::new(seed);
    let (mut accepted, mut rejected) = (0u64, 0u64);
    for case in 0..iters {
        let o = random_options(&mut r);
        let ctx = || format!("seed {seed:#x}, case {case}: {o:?}");
        let result = catch_unwind(AssertUnwindSafe(|| o.validate()))
            .unwrap_or_else(|_| panic!("validate panicked; {}", ctx()));
        match &result {
            Ok(c) => {
                accepted += 1;
                if let Err(why) = check_config(&o, c) {
                    panic!("accepted out of contract: {why}; {}", ctx());
                }
            }
            Err(e) => {
                rejected += 1;
                assert!(
                    SETTINGS.iter().any(|s| s.js == e.field),
                    "error blames unknown field {:?} ({}); {}",
                    e.field,
                    e.message,
                    ctx()
                );
                assert!(
                    o.shown(e.field).is_some(),
                    "error blames {} which was not given ({}); {}",
                    e.field,
                    e.message,
                    ctx()
                );
                assert!(
                    e.message.starts_with(e.field),
                    "message does not start with the field {:?}: {:?}; {}",
                    e.field,
                    e.message,
                    ctx()
                );
            }
        }
        // Pure: the same options give the same answer.
        assert_eq!(
            result,
            o.validate(),
            "validate is not deterministic; {}",
            ctx()
        );
    }
    eprintln!("validate: {accepted} accepted, {rejected} rejected (seed {seed:#x})");
    assert!(
        accepted > iters / 20,
        "too few accepted cases ({accepted}) to mean much"
    );
    assert!(
        rejected > iters / 20,
        "too few rejected cases ({rejected}) to mean much"
    );
}

/// `RegionRequest` as validate produces it (x, y in 0..16384; sizes None or 1..=16384), mostly
/// starting on a `sw` x `sh` screen.
fn random_request(r: &mut Rng, wide: bool, sw: u32, sh: u32) -> RegionRequest {
    let coord = |r: &mut Rng, screen: u32| -> u32 {
        if wide && r.chance(0.2) {
            return *r.pick(&[u32::MAX, u32::MAX - 1, 1 << 31, 65535, 65536]);
        }
        match r.below(6) {
            0 => r.below(64) as u32,
            1 => r.below(MAX_DIMENSION as u64) as u32,
            2 => screen.saturating_sub(1 + r.below(3) as u32),
            3 => screen.min(MAX_DIMENSION as u32 - 1),
            _ => r.below(u64::from(screen.clamp(1, MAX_DIMENSION as u32))) as u32,
        }
    };
    let size = |r: &mut Rng| -> Option<u32> {
        if r.chance(0.25) {
            return None;
        }
        if wide && r.chance(0.2) {
            return Some(*r.pick(&[0, u32::MAX, 1 << 31, 65536]));
        }
        Some(match r.below(4) {
            0 => 1 + r.below(4) as u32,
            1 => 1 + r.below(256) as u32,
            _ => 1 + r.below(MAX_DIMENSION as u64) as u32,
        })
    };
    RegionRequest {
        display: None,
        monitor: None,
        x: coord(r, sw),
        y: coord(r, sh),
        width: size(r),
        height: size(r),
        auto_resize: true,
    }
}

fn random_screen_side(r: &mut Rng, wide: bool) -> u32 {
    if wide && r.chance(0.1) {
        return *r.pick(&[0, u32::MAX, 65535]);
    }
    match r.below(4) {
        0 => 1 + r.below(8) as u32,
        1 => *r.pick(&[
            640, 720, 768, 1024, 1080, 1280, 1440, 1920, 2160, 3840, 7680,
        ]),
        _ => 1 + r.below(16384) as u32,
    }
}

#[test]
fn clamp_never_panics_fits_the_screen_and_fails_only_when_it_must() {
    let seed = seed() ^ 0xc1a3_9c1a_3900;
    let iters = env_u64("STRIPECAST_FUZZ_ITERS", 100_000) * 2;
    let mut r = Rng::new(seed);
    let (mut ok, mut err) = (0u64, 0u64);
    for case in 0..iters {
        // One case in five goes beyond what validate produces: only "no panic" is asked there.
        let wide = r.chance(0.2);
        let (sw, sh) = (
            random_screen_side(&mut r, wide),
            random_screen_side(&mut r, wide),
        );
        let req = random_request(&mut r, wide, sw, sh);
        let even = r.chance(0.5);
        let ctx = || format!("seed {seed:#x}, case {case}: {req:?} on {sw}x{sh}, even {even}");
        let result = catch_unwind(AssertUnwindSafe(|| req.clamp(sw, sh, even)))
            .unwrap_or_else(|_| panic!("clamp panicked; {}", ctx()));
        if wide {
            continue;
        }
        // What fitting gives before rounding, computed independently.
        let fit = |want: Option<u32>, origin: u32, screen: u32| -> u32 {
            let room = screen - origin;
            want.map_or(room, |w| w.min(room))
        };
        let must_fail = req.x >= sw
            || req.y >= sh
            || (even && (fit(req.width, req.x, sw) == 1 || fit(req.height, req.y, sh) == 1));
        match result {
            Ok(c) => {
                ok += 1;
                assert!(!must_fail, "accepted a region that cannot fit; {}", ctx());
                let g = c.region;
                assert_eq!((g.x, g.y), (req.x, req.y), "origin moved; {}", ctx());
                assert!(
                    g.width >= 1 && g.height >= 1,
                    "empty region {g:?}; {}",
                    ctx()
                );
                assert!(
                    u64::from(g.x) + u64::from(g.width) <= u64::from(sw)
                        && u64::from(g.y) + u64::from(g.height) <= u64::from(sh),
                    "region {g:?} past the screen; {}",
                    ctx()
                );
                for (got, want, origin, screen, name) in [
                    (g.width, req.width, req.x, sw, "captureWidth"),
                    (g.height, req.height, req.y, sh, "captureHeight"),
                ] {
                    let f = fit(want, origin, screen);
                    let expect = if even { f & !1 } else { f };
                    assert_eq!(got, expect, "{name}; {}", ctx());
                    if even {
                        assert_eq!(got % 2, 0, "{name} odd for H.264; {}", ctx());
                    }
                    let adjusted = want.is_some_and(|w| w != got) || (want.is_none() && got != f);
                    let noted = c.notes.iter().any(|n| n.starts_with(name));
                    assert_eq!(
                        adjusted,
                        noted,
                        "{name}: adjusted {adjusted} but notes {:?}; {}",
                        c.notes,
                        ctx()
                    );
                }
                for n in &c.notes {
                    assert!(
                        n.starts_with("captureWidth") || n.starts_with("captureHeight"),
                        "note does not start with its field: {n:?}; {}",
                        ctx()
                    );
                }
            }
            Err(e) => {
                err += 1;
                assert!(
                    must_fail,
                    "rejected a region that fits: {}; {}",
                    e.message,
                    ctx()
                );
                assert!(
                    ["captureX", "captureY", "captureWidth", "captureHeight"].contains(&e.field),
                    "unexpected field {:?}; {}",
                    e.field,
                    ctx()
                );
                assert!(
                    e.message.starts_with(e.field),
                    "message does not start with the field: {:?}; {}",
                    e.message,
                    ctx()
                );
            }
        }
    }
    eprintln!("clamp: {ok} fitted, {err} rejected (seed {seed:#x})");
    assert!(
        ok > 1000 && err > 100,
        "poor coverage: {ok} fitted, {err} rejected"
    );
}

#[test]
fn validated_regions_always_clamp_without_panicking() {
    // validate → clamp, the order start() uses, on random options and screens.
    let seed = seed() ^ 0x0b5e_55ed;
    let iters = env_u64("STRIPECAST_FUZZ_ITERS", 100_000) / 2;
    let mut r = Rng::new(seed);
    for case in 0..iters {
        let o = random_options(&mut r);
        let Ok(c) = o.validate() else { continue };
        let (sw, sh) = (
            random_screen_side(&mut r, false),
            random_screen_side(&mut r, false),
        );
        let even = c.layout.mode == OutputMode::H264;
        let res =
            catch_unwind(AssertUnwindSafe(|| c.region.clamp(sw, sh, even))).unwrap_or_else(|_| {
                panic!(
                    "clamp panicked; seed {seed:#x}, case {case}: {:?} on {sw}x{sh}",
                    c.region
                )
            });
        if let Err(e) = res {
            assert!(e.message.starts_with(e.field), "{:?}", e.message);
        }
    }
}

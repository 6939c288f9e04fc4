//! Benchmark scenes: cheap, deterministic screen activity for `bench/run.mjs`.
//!
//! Every scene is prepared once (`setup`): its content is computed in this process and uploaded
//! into server-side pixmaps (or drawn with core text requests), and the first picture is drawn on
//! the root window. Each frame then costs this process a handful of small requests: a
//! `CopyArea` from a precomputed pixmap, one `ImageText8` glyph, or nothing at all. The server
//! does the pixel copies, so the player's own CPU stays far below a capturer's.
//!
//! | scene | every frame |
//! |---|---|
//! | `static` | nothing (a text page stays on screen) |
//! | `typing` | one glyph typed after the previous one, plus a caret blinking every 30 frames |
//! | `scroll` | a text page (below a still 32-row title bar) scrolled up 4 rows |
//! | `scroll-window` | a 1200x800 window of text (centred, smaller on a small screen) scrolled up 4-12 rows (cycling 4, 6, 8, 10, 12, 9, 7, 5) over a still text page |
//! | `scroll-lines` | a terminal: the page below the title bar, lines 18 rows apart, scrolled up one whole line (18 rows) |
//! | `video` | the whole screen replaced by the next of 30 precomputed frames (smooth plasma with per-frame grain, a seamless loop) |
//! | `window-video` | a 640x360 window of 30 precomputed frames moving 2 px right and 1 px down per frame (bouncing) over a still text page; only the uncovered L-shape is restored |
//!
//! Every picture drawn is logged with its CLOCK_MONOTONIC time and where it put what moves
//! (`scene-log`), and `scene-parts` writes what pictures are made of, so that a benchmark can
//! rebuild the picture that was on screen when a frame was grabbed:
//!
//! | scene | picture P (0 = the set-up picture) | log x, y | parts |
//! |---|---|---|---|
//! | `video` | `loop-{P mod 30}` | 0, 0 | `loop-K.bgrx` (whole screens) |
//! | `window-video` | `desktop` with `window-{P mod 30}` at x, y | window's top left | `desktop.bgrx`, `window-K.bgrx` |
//! | `scroll`, `scroll-lines` | `title` above rows y.. of `page` | 0, first page row shown | `title.bgrx`, `page.bgrx` |
//! | `scroll-window` | `desktop` with rows y.. of `page` in the window | 0, first page row shown | `desktop.bgrx`, `page.bgrx` |
//!
//! `scene.json` gives the sizes (and `loop`, `top`: the title's height; `area`: where the
//! scrolled page is shown, x, y, width, height).

use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ChangeGCAux, ConnectionExt, CreateGCAux, Drawable, FillStyle, Gcontext, ImageFormat, Pixmap,
    Rectangle,
};

use crate::{splitmix, Input, Painter, Res};

const BG: u32 = 0x1e1f29;
const TITLE_BG: u32 = 0x3b4252;
const TITLE_FG: u32 = 0xe5e9f0;
const TYPE_FG: u32 = 0xeceff4;
const CARET: u32 = 0xf0c040;
const PALETTE: [u32; 7] = [
    0xd8dee9, 0x88c0d0, 0xa3be8c, 0xebcb8b, 0xb48ead, 0xbf616a, 0x81a1c1,
];
const TITLE_H: u16 = 32;
/// Frames in the video loops.
const VIDEO_FRAMES: usize = 30;
const WINDOW_W: u16 = 640;
const WINDOW_H: u16 = 360;
const SCROLL_STEP: u32 = 4;
/// Rows the `scroll-window` window moves per frame, in turn.
const WINDOW_STEPS: [u32; 8] = [4, 6, 8, 10, 12, 9, 7, 5];
const SCROLL_WINDOW: (u16, u16) = (1200, 800);
/// Line pitch of the `scroll-lines` terminal (its step).
const TERMINAL_LINE: u32 = 18;
/// Where the `window-video` window starts (x, y) and how it moves each frame (dx, dy).
const WINDOW_START: (i32, i32, i32, i32) = (200, 150, 2, 1);

const WORDS: [&str; 40] = [
    "let", "fn", "match", "return", "self", "buffer", "stripe", "encode", "frame", "width",
    "height", "if", "else", "for", "in", "while", "Some(x)", "None", "Ok(())", "Err(e)", "=>",
    "&mut", "u32", "Vec<u8>", "pixels", "hash", "quality", "region", "capture", "deliver", "=",
    "+=", "0x3f", "1080", "{", "}", "(stride)", "// TODO", "as usize", "::new()",
];

const TYPED: &str = "The quick brown fox jumps over the lazy dog while the capture thread hashes \
every stripe; only the band that holds the caret changes, so only that band is encoded and sent. \
Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut \
labore et dolore magna aliqua. 0123456789 !@#$%^&*() [] {} <> ";

/// Figures of one `scene` command.
pub struct RunStats {
    pub frames: u64,
    pub late: u64,
    pub setup_ms: u64,
}

enum Kind {
    Static,
    Typing {
        /// Left edge, top of the typing area, caret position.
        left: i16,
        top: i16,
        x: i16,
        y: i16,
        typed: usize,
    },
    Scroll {
        /// The page: the area's height plus one period of rows, repeating every `period` rows.
        pix: Pixmap,
        period: u32,
        /// Rows moved per frame, in turn.
        steps: Vec<u32>,
        /// Where the page is shown: x, y, width, height.
        area: (i16, i16, u16, u16),
        /// The first page row shown.
        offset: u32,
        /// What lies around the area (`scroll-window`), for `scene-parts`.
        desktop: Option<Pixmap>,
    },
    Video {
        frames: Vec<Pixmap>,
    },
    WindowVideo {
        desktop: Pixmap,
        frames: Vec<Pixmap>,
        x: i32,
        y: i32,
        dx: i32,
        dy: i32,
    },
}

/// A prepared scene, kept between `scene` commands so that a paused scene resumes as it was.
pub struct Scene {
    name: String,
    kind: Kind,
    gc: Gcontext,
    frame: u64,
    cw: i16,
    lh: i16,
    log: Vec<Drawn>,
}

/// One picture drawn: its number, CLOCK_MONOTONIC ns before its requests and after the round
/// trip that follows them, and where it put what moves.
struct Drawn {
    picture: u64,
    t0: u64,
    t1: u64,
    x: i32,
    y: i32,
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Runs (preparing it first when it is not the current one) scene `name` at `fps` for `secs`
/// seconds (0 = until `stop` or end of input).
pub fn run(
    p: &Painter,
    state: &mut Option<Scene>,
    name: &str,
    fps: f64,
    secs: f64,
    input: &mut Input,
) -> Res<RunStats> {
    if !p.bgrx_ok {
        return Err("root visual is not 24-bit TrueColor at 32 bpp LSB-first".into());
    }
    let t_setup = Instant::now();
    if state.as_ref().map(|s| s.name.as_str()) != Some(name) {
        if let Some(old) = state.take() {
            old.free(p)?;
        }
        let t0 = monotonic_ns();
        let mut scene = Scene::setup(p, name)?;
        p.sync()?;
        scene.log_drawn(t0);
        *state = Some(scene);
    }
    let setup_ms = t_setup.elapsed().as_millis() as u64;
    let scene = state.as_mut().expect("set above");
    // Drivers that need to know when the (possibly long) setup is over read this line.
    eprintln!("scene {} running setup_ms={}", name, setup_ms);

    let period = Duration::from_secs_f64(1.0 / fps);
    let start = Instant::now();
    let end = (secs > 0.0).then(|| start + Duration::from_secs_f64(secs));
    let mut next = start;
    let (mut frames, mut late) = (0u64, 0u64);
    loop {
        let t0 = monotonic_ns();
        let drew = scene.step(p)?;
        if drew {
            p.sync()?;
        }
        scene.frame += 1;
        if drew {
            scene.log_drawn(t0);
        }
        frames += 1;
        if input.should_stop(end.is_none()) {
            break;
        }
        next += period;
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        if next > now {
            std::thread::sleep(next - now);
        } else {
            late += 1;
            next = now;
        }
    }
    Ok(RunStats {
        frames,
        late,
        setup_ms,
    })
}

/// Deterministic line `i` of the pseudo source code shown by the text scenes, as coloured
/// segments `(column, colour, text)`.
fn code_line(i: usize) -> Vec<(usize, u32, String)> {
    let r = splitmix(0x5eed ^ i as u64);
    if r.is_multiple_of(7) {
        return Vec::new(); // blank line
    }
    let indent = ((r >> 8) % 5) as usize * 4;
    let n_words = 2 + ((r >> 16) % 14) as usize;
    let mut col = indent;
    let mut out = Vec::new();
    for k in 0..n_words {
        let h = splitmix(r ^ (k as u64 + 1));
        let w = WORDS[(h % WORDS.len() as u64) as usize];
        let c = PALETTE[((h >> 20) % PALETTE.len() as u64) as usize];
        out.push((col, c, w.to_string()));
        col += w.len() + 1;
    }
    out
}

/// Fills `drawable` rows `[y0, y0 + h)` with a text page whose first row shows line `first`.
#[allow(clippy::too_many_arguments)]
fn draw_page(
    p: &Painter,
    drawable: Drawable,
    gc: Gcontext,
    y0: i16,
    w: u16,
    h: u16,
    first: usize,
    period_lines: usize,
    cw: i16,
    lh: i16,
) -> Res<()> {
    let conn = &p.conn;
    conn.change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(BG)))?;
    conn.poly_fill_rectangle(
        drawable,
        gc,
        &[Rectangle {
            x: 0,
            y: y0,
            width: w,
            height: h,
        }],
    )?;
    let rows = (h as usize).div_ceil(lh as usize);
    for row in 0..rows {
        let line = first + row;
        let idx = if period_lines > 0 {
            line % period_lines
        } else {
            line
        };
        let base = y0 as i32 + row as i32 * lh as i32 + p.font_ascent as i32;
        if base > i16::MAX as i32 {
            break;
        }
        // A line number gutter, then the code.
        let num = format!("{:>4}", idx + 1);
        conn.change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(0x4c566a)))?;
        conn.poly_text8(drawable, gc, 4, base as i16, &text_items(num.as_bytes()))?;
        for (col, colour, text) in code_line(idx) {
            let x = 40 + col as i32 * cw as i32;
            if x + text.len() as i32 * cw as i32 > w as i32 {
                break;
            }
            conn.change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(colour)))?;
            conn.poly_text8(
                drawable,
                gc,
                x as i16,
                base as i16,
                &text_items(text.as_bytes()),
            )?;
        }
    }
    Ok(())
}

fn text_items(text: &[u8]) -> Vec<u8> {
    let mut items = Vec::with_capacity(text.len() + 4);
    for chunk in text.chunks(254) {
        items.push(chunk.len() as u8);
        items.push(0);
        items.extend_from_slice(chunk);
    }
    items
}

fn draw_title(p: &Painter, drawable: Drawable, gc: Gcontext, w: u16, title: &str) -> Res<()> {
    let conn = &p.conn;
    conn.change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(TITLE_BG)))?;
    conn.poly_fill_rectangle(
        drawable,
        gc,
        &[Rectangle {
            x: 0,
            y: 0,
            width: w,
            height: TITLE_H,
        }],
    )?;
    conn.change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(TITLE_FG)))?;
    conn.poly_text8(
        drawable,
        gc,
        12,
        (TITLE_H as i16 - 13) / 2 + p.font_ascent,
        &text_items(title.as_bytes()),
    )?;
    Ok(())
}

/// PutImage of BGRX rows into any drawable, in bands that fit one request.
fn put(p: &Painter, drawable: Drawable, gc: Gcontext, w: u16, h: u16, data: &[u8]) -> Res<()> {
    let stride = w as usize * 4;
    let rows_per = ((p.max_put_bytes - 64) / stride).clamp(1, h as usize);
    let mut row = 0usize;
    while row < h as usize {
        let n = rows_per.min(h as usize - row);
        p.conn.put_image(
            ImageFormat::Z_PIXMAP,
            drawable,
            gc,
            w,
            n as u16,
            0,
            row as i16,
            0,
            p.depth,
            &data[row * stride..(row + n) * stride],
        )?;
        row += n;
    }
    Ok(())
}

/// One picture of a seamless `VIDEO_FRAMES`-frame loop: moving sine plasma (smooth gradients,
/// rings around a wandering centre) plus per-frame luma grain of +-3, as a camera would give.
fn video_frame(w: usize, h: usize, t: usize, seed: u64, out: &mut [u8]) {
    // Sine table, 1024 entries, 0..=255.
    let table: Vec<i32> = (0..1024)
        .map(|i| (127.5 + 127.5 * (i as f64 * std::f64::consts::TAU / 1024.0).sin()).round() as i32)
        .collect();
    let s = |v: i64| table[(v & 1023) as usize];
    let phase = (t as f64 * std::f64::consts::TAU / VIDEO_FRAMES as f64).sin();
    let phase2 = (t as f64 * std::f64::consts::TAU / VIDEO_FRAMES as f64).cos();
    let (p1, p2, p3) = (
        (phase * 90.0) as i64,
        (phase2 * 70.0) as i64,
        ((phase + phase2) * 50.0) as i64,
    );
    let cx = (w as f64 * (0.5 + 0.25 * phase)) as i64;
    let cy = (h as f64 * (0.5 + 0.25 * phase2)) as i64;
    let sx = 1024 * 2 / w.max(1) as i64; // about two periods across
    for y in 0..h {
        let yy = y as i64;
        let vy = s(yy * 3 / 2 + p2);
        let dy2 = (yy - cy) * (yy - cy);
        let row = &mut out[y * w * 4..(y + 1) * w * 4];
        let mut g = splitmix(seed ^ ((t as u64) << 40) ^ ((y as u64) << 16));
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            let xx = x as i64;
            let vx = s(xx * sx + p1);
            let vd = s((xx + yy) + p3);
            let dx = xx - cx;
            let ring = s(((dx * dx + dy2) >> 8) + p1);
            if x % 16 == 0 {
                g = splitmix(g);
            }
            let grain = ((g >> ((x % 16) * 4)) & 7) as i32 - 3;
            let r = (vx + ring) / 2 + grain;
            let gg = (vy + vd) / 2 + grain;
            let b = (ring + vd) / 2 + grain;
            px[0] = b.clamp(0, 255) as u8;
            px[1] = gg.clamp(0, 255) as u8;
            px[2] = r.clamp(0, 255) as u8;
            px[3] = 0;
        }
    }
}

fn video_pixmaps(p: &Painter, gc: Gcontext, w: u16, h: u16, seed: u64) -> Res<Vec<Pixmap>> {
    let mut buf = vec![0u8; w as usize * h as usize * 4];
    let mut out = Vec::with_capacity(VIDEO_FRAMES);
    for t in 0..VIDEO_FRAMES {
        video_frame(w as usize, h as usize, t, seed, &mut buf);
        let pix = p.conn.generate_id()?;
        p.conn.create_pixmap(p.depth, pix, p.root, w, h)?;
        put(p, pix, gc, w, h, &buf)?;
        out.push(pix);
    }
    Ok(out)
}

/// Fills the root window from row `top` down with the page background (the typing area).
fn clear_below(p: &Painter, gc: Gcontext, top: i16) -> Res<()> {
    p.conn
        .change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(BG)))?;
    p.conn.poly_fill_rectangle(
        p.root,
        gc,
        &[Rectangle {
            x: 0,
            y: top,
            width: p.width,
            height: p.height.saturating_sub(top as u16),
        }],
    )?;
    Ok(())
}

/// `a` minus `b` as up to four rectangles.
fn subtract(a: (i32, i32, i32, i32), b: (i32, i32, i32, i32)) -> Vec<(i32, i32, i32, i32)> {
    let (ax, ay, aw, ah) = a;
    let (bx, by, bw, bh) = b;
    let (ix0, iy0) = (ax.max(bx), ay.max(by));
    let (ix1, iy1) = ((ax + aw).min(bx + bw), (ay + ah).min(by + bh));
    if ix0 >= ix1 || iy0 >= iy1 {
        return vec![a];
    }
    let mut out = Vec::new();
    if iy0 > ay {
        out.push((ax, ay, aw, iy0 - ay));
    }
    if iy1 < ay + ah {
        out.push((ax, iy1, aw, ay + ah - iy1));
    }
    if ix0 > ax {
        out.push((ax, iy0, ix0 - ax, iy1 - iy0));
    }
    if ix1 < ax + aw {
        out.push((ix1, iy0, ax + aw - ix1, iy1 - iy0));
    }
    out
}

impl Scene {
    fn setup(p: &Painter, name: &str) -> Res<Scene> {
        let conn = &p.conn;
        let (w, h) = (p.width, p.height);
        let font = conn.query_font(p.font)?.reply()?;
        let cw = font.max_bounds.character_width.max(1);
        let lh = (font.font_ascent + font.font_descent).max(1);
        let gc = conn.generate_id()?;
        conn.create_gc(
            gc,
            p.root,
            &CreateGCAux::new()
                .font(p.font)
                .foreground(p.pixel(TYPE_FG))
                .background(p.pixel(BG))
                .fill_style(FillStyle::SOLID)
                .graphics_exposures(0),
        )?;
        let root = p.root;
        let kind = match name {
            "static" => {
                draw_title(p, root, gc, w, "static  -  a still text page")?;
                draw_page(
                    p,
                    root,
                    gc,
                    TITLE_H as i16,
                    w,
                    h.saturating_sub(TITLE_H),
                    0,
                    0,
                    cw,
                    lh,
                )?;
                Kind::Static
            }
            "typing" => {
                draw_title(
                    p,
                    root,
                    gc,
                    w,
                    "typing  -  one glyph per frame, caret blinks every 30 frames",
                )?;
                // The upper half is a page of text; typing goes into the blank lower half.
                let half = (h / 2).max(TITLE_H + lh as u16);
                draw_page(p, root, gc, TITLE_H as i16, w, half - TITLE_H, 0, 0, cw, lh)?;
                conn.change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(BG)))?;
                conn.poly_fill_rectangle(
                    root,
                    gc,
                    &[Rectangle {
                        x: 0,
                        y: half as i16,
                        width: w,
                        height: h - half,
                    }],
                )?;
                let top = half as i16 + lh;
                Kind::Typing {
                    left: 40,
                    top,
                    x: 40,
                    y: top,
                    typed: 0,
                }
            }
            "scroll" | "scroll-lines" | "scroll-window" => {
                let window = name == "scroll-window";
                // The area shown, and the page's line pitch and steps.
                let area = if window {
                    let ww = SCROLL_WINDOW.0.min(w.saturating_sub(80)).max(64);
                    let wh = SCROLL_WINDOW.1.min(h.saturating_sub(TITLE_H + 40)).max(64);
                    let x = (w.saturating_sub(ww) / 2) as i16;
                    let y = (TITLE_H + (h.saturating_sub(TITLE_H + wh)) / 2) as i16;
                    (x, y, ww, wh)
                } else {
                    (0, TITLE_H as i16, w, h.saturating_sub(TITLE_H))
                };
                let (pitch, steps) = match name {
                    "scroll" => (lh as u32, vec![SCROLL_STEP]),
                    "scroll-lines" => (
                        TERMINAL_LINE.max(lh as u32),
                        vec![TERMINAL_LINE.max(lh as u32)],
                    ),
                    _ => (lh as u32, WINDOW_STEPS.to_vec()),
                };
                // Content repeats every `period` rows (a multiple of the line pitch, and of a
                // fixed step, so that its offsets cycle), so the pixmap holds one area plus one
                // period.
                let unit = match steps[..] {
                    [step] => lcm(pitch, step),
                    _ => pitch,
                };
                let period = unit * (1000 / unit).max(1);
                let ph = area.3 as u32 + period;
                if ph > i16::MAX as u32 {
                    return Err(format!("screen too tall for the {name} scene").into());
                }
                let pix = conn.generate_id()?;
                conn.create_pixmap(p.depth, pix, root, area.2, ph as u16)?;
                draw_page(
                    p,
                    pix,
                    gc,
                    0,
                    area.2,
                    ph as u16,
                    0,
                    (period / pitch) as usize,
                    cw,
                    pitch as i16,
                )?;
                let title = match name {
                    "scroll" => "scroll  -  a text page scrolling 4 rows per frame",
                    "scroll-lines" => {
                        "scroll-lines  -  a terminal scrolling one 18-row line per frame"
                    }
                    _ => {
                        "scroll-window  -  a 1200x800 window of text scrolling 4-12 rows per frame"
                    }
                };
                let desktop = if window {
                    // A still page around the window, with a frame around it.
                    let d = conn.generate_id()?;
                    conn.create_pixmap(p.depth, d, root, w, h)?;
                    draw_title(p, d, gc, w, title)?;
                    draw_page(p, d, gc, TITLE_H as i16, w, h - TITLE_H, 500, 0, cw, lh)?;
                    conn.change_gc(gc, &ChangeGCAux::new().foreground(p.pixel(TITLE_BG)))?;
                    conn.poly_fill_rectangle(
                        d,
                        gc,
                        &[Rectangle {
                            x: area.0 - 4,
                            y: area.1 - 4,
                            width: area.2 + 8,
                            height: area.3 + 8,
                        }],
                    )?;
                    conn.copy_area(d, root, gc, 0, 0, 0, 0, w, h)?;
                    Some(d)
                } else {
                    draw_title(p, root, gc, w, title)?;
                    None
                };
                conn.copy_area(pix, root, gc, 0, 0, area.0, area.1, area.2, area.3)?;
                Kind::Scroll {
                    pix,
                    period,
                    steps,
                    area,
                    offset: 0,
                    desktop,
                }
            }
            "video" => {
                let frames = video_pixmaps(p, gc, w, h, 0x51de0)?;
                conn.copy_area(frames[0], root, gc, 0, 0, 0, 0, w, h)?;
                Kind::Video { frames }
            }
            "window-video" => {
                if w < WINDOW_W || h < WINDOW_H + TITLE_H {
                    return Err("screen too small for window-video".into());
                }
                let desktop = conn.generate_id()?;
                conn.create_pixmap(p.depth, desktop, root, w, h)?;
                draw_title(
                    p,
                    desktop,
                    gc,
                    w,
                    "window-video  -  a 640x360 video window moving over a still page",
                )?;
                draw_page(p, desktop, gc, TITLE_H as i16, w, h - TITLE_H, 0, 0, cw, lh)?;
                conn.copy_area(desktop, root, gc, 0, 0, 0, 0, w, h)?;
                let frames = video_pixmaps(p, gc, WINDOW_W, WINDOW_H, 0x77e0)?;
                let (x, y, dx, dy) = WINDOW_START;
                conn.copy_area(
                    frames[0], root, gc, 0, 0, x as i16, y as i16, WINDOW_W, WINDOW_H,
                )?;
                Kind::WindowVideo {
                    desktop,
                    frames,
                    x,
                    y,
                    dx,
                    dy,
                }
            }
            other => {
                conn.free_gc(gc)?;
                return Err(format!(
                    "unknown scene '{}' (known: static, typing, scroll, scroll-window, scroll-lines, video, window-video)",
                    other
                )
                .into());
            }
        };
        Ok(Scene {
            name: name.to_string(),
            kind,
            gc,
            frame: 0,
            cw,
            lh,
            log: Vec::new(),
        })
    }

    /// Draws the next frame; returns whether anything was sent (and needs a round trip).
    fn step(&mut self, p: &Painter) -> Res<bool> {
        let conn = &p.conn;
        let (w, h) = (p.width as i32, p.height as i32);
        let (gc, root, frame, cw, lh) = (self.gc, p.root, self.frame, self.cw, self.lh);
        match &mut self.kind {
            Kind::Static => Ok(false),
            Kind::Typing {
                left,
                top,
                x,
                y,
                typed,
            } => {
                let ch = TYPED.as_bytes()[*typed % TYPED.len()];
                *typed += 1;
                // ImageText8 paints the cell's background too, so it also erases the caret.
                conn.change_gc(
                    gc,
                    &ChangeGCAux::new()
                        .foreground(p.pixel(TYPE_FG))
                        .background(p.pixel(BG)),
                )?;
                conn.image_text8(root, gc, *x, *y + p.font_ascent, &[ch])?;
                *x += cw;
                if *x as i32 + cw as i32 > w - 40 {
                    *x = *left;
                    *y += lh;
                    if *y as i32 + lh as i32 > h {
                        // Page full: clear the typing area and start again at its top.
                        *y = *top;
                        clear_below(p, gc, *top)?;
                    }
                }
                let visible = (frame / 30) % 2 == 0;
                conn.change_gc(
                    gc,
                    &ChangeGCAux::new().foreground(p.pixel(if visible { CARET } else { BG })),
                )?;
                conn.poly_fill_rectangle(
                    root,
                    gc,
                    &[Rectangle {
                        x: *x,
                        y: *y,
                        width: 2,
                        height: lh as u16,
                    }],
                )?;
                Ok(true)
            }
            Kind::Scroll {
                pix,
                period,
                steps,
                area,
                offset,
                ..
            } => {
                *offset = (*offset + steps[frame as usize % steps.len()]) % *period;
                let (x, y, aw, ah) = *area;
                conn.copy_area(*pix, root, gc, 0, *offset as i16, x, y, aw, ah)?;
                Ok(true)
            }
            Kind::Video { frames } => {
                let f = frames[(frame as usize + 1) % frames.len()];
                conn.copy_area(f, root, gc, 0, 0, 0, 0, w as u16, h as u16)?;
                Ok(true)
            }
            Kind::WindowVideo {
                desktop,
                frames,
                x,
                y,
                dx,
                dy,
            } => {
                let (ww, wh) = (WINDOW_W as i32, WINDOW_H as i32);
                let old = (*x, *y, ww, wh);
                *x += *dx;
                *y += *dy;
                if *x < 0 || *x + ww > w {
                    *dx = -*dx;
                    *x = (*x).clamp(0, w - ww);
                }
                if *y < TITLE_H as i32 || *y + wh > h {
                    *dy = -*dy;
                    *y = (*y).clamp(TITLE_H as i32, h - wh);
                }
                for (rx, ry, rw, rh) in subtract(old, (*x, *y, ww, wh)) {
                    conn.copy_area(
                        *desktop, root, gc, rx as i16, ry as i16, rx as i16, ry as i16, rw as u16,
                        rh as u16,
                    )?;
                }
                let f = frames[(frame as usize + 1) % frames.len()];
                conn.copy_area(f, root, gc, 0, 0, *x as i16, *y as i16, WINDOW_W, WINDOW_H)?;
                Ok(true)
            }
        }
    }

    /// Logs picture `self.frame`, whose requests went out at `t0` and have been processed.
    fn log_drawn(&mut self, t0: u64) {
        let (x, y) = self.geometry();
        self.log.push(Drawn {
            picture: self.frame,
            t0,
            t1: monotonic_ns(),
            x,
            y,
        });
    }

    /// Back to the set-up picture and state, with a log of that picture alone: every run of a
    /// scene then shows the same pictures at the same pace (a window at the same place, a
    /// typing area as empty).
    pub fn restart(&mut self, p: &Painter) -> Res<()> {
        let conn = &p.conn;
        let (w, h) = (p.width, p.height);
        let (gc, root) = (self.gc, p.root);
        let t0 = monotonic_ns();
        match &mut self.kind {
            Kind::Static => {}
            Kind::Typing {
                left,
                top,
                x,
                y,
                typed,
            } => {
                (*x, *y, *typed) = (*left, *top, 0);
                clear_below(p, gc, *top)?;
            }
            Kind::Scroll {
                pix, area, offset, ..
            } => {
                *offset = 0;
                let (x, y, aw, ah) = *area;
                conn.copy_area(*pix, root, gc, 0, 0, x, y, aw, ah)?;
            }
            Kind::Video { frames } => {
                conn.copy_area(frames[0], root, gc, 0, 0, 0, 0, w, h)?;
            }
            Kind::WindowVideo {
                desktop,
                frames,
                x,
                y,
                dx,
                dy,
            } => {
                (*x, *y, *dx, *dy) = WINDOW_START;
                conn.copy_area(*desktop, root, gc, 0, 0, 0, 0, w, h)?;
                conn.copy_area(
                    frames[0], root, gc, 0, 0, *x as i16, *y as i16, WINDOW_W, WINDOW_H,
                )?;
            }
        }
        p.sync()?;
        self.frame = 0;
        self.log.clear();
        self.log_drawn(t0);
        Ok(())
    }

    /// Where the picture just drawn (number `self.frame`) put what moves: the window's top left
    /// (`window-video`), the first page row shown (`scroll`), else 0, 0.
    fn geometry(&self) -> (i32, i32) {
        match &self.kind {
            Kind::WindowVideo { x, y, .. } => (*x, *y),
            Kind::Scroll { offset, .. } => (0, *offset as i32),
            _ => (0, 0),
        }
    }

    /// The log of pictures drawn since set-up, as JSON lines (times in milliseconds).
    pub fn log_json(&self) -> String {
        let ms = |ns: u64| ns as f64 / 1e6;
        self.log
            .iter()
            .map(|d| {
                format!(
                    "{{\"picture\":{},\"t0\":{:.3},\"t1\":{:.3},\"x\":{},\"y\":{}}}\n",
                    d.picture,
                    ms(d.t0),
                    ms(d.t1),
                    d.x,
                    d.y
                )
            })
            .collect()
    }

    /// What this scene's pictures are made of: (file name, contents), `scene.json` last.
    pub fn parts(&self, p: &Painter) -> Res<Vec<(String, Vec<u8>)>> {
        let (w, h) = (p.width, p.height);
        let mut out = Vec::new();
        let json = match &self.kind {
            Kind::Video { frames } => {
                for (k, f) in frames.iter().enumerate() {
                    out.push((format!("loop-{k}.bgrx"), p.get_bgrx(*f, 0, 0, w, h)?));
                }
                format!("\"loop\":{}", frames.len())
            }
            Kind::WindowVideo {
                desktop, frames, ..
            } => {
                out.push(("desktop.bgrx".into(), p.get_bgrx(*desktop, 0, 0, w, h)?));
                for (k, f) in frames.iter().enumerate() {
                    out.push((
                        format!("window-{k}.bgrx"),
                        p.get_bgrx(*f, 0, 0, WINDOW_W, WINDOW_H)?,
                    ));
                }
                format!(
                    "\"loop\":{},\"window\":[{WINDOW_W},{WINDOW_H}]",
                    frames.len()
                )
            }
            Kind::Scroll {
                pix,
                period,
                area,
                desktop,
                ..
            } => {
                let (x, y, aw, ah) = *area;
                let rows = ah as u32 + period;
                match desktop {
                    Some(d) => out.push(("desktop.bgrx".into(), p.get_bgrx(*d, 0, 0, w, h)?)),
                    None => out.push(("title.bgrx".into(), p.dump(0, 0, w, TITLE_H)?)),
                }
                out.push(("page.bgrx".into(), p.get_bgrx(*pix, 0, 0, aw, rows as u16)?));
                format!("\"top\":{TITLE_H},\"pageRows\":{rows},\"area\":[{x},{y},{aw},{ah}]")
            }
            _ => {
                return Err(format!(
                    "scene '{}' has no parts to rebuild pictures from",
                    self.name
                )
                .into())
            }
        };
        out.push((
            "scene.json".into(),
            format!(
                "{{\"scene\":\"{}\",\"width\":{w},\"height\":{h},{json}}}\n",
                self.name
            )
            .into_bytes(),
        ));
        Ok(out)
    }

    fn free(self, p: &Painter) -> Res<()> {
        let conn = &p.conn;
        match self.kind {
            Kind::Scroll { pix, desktop, .. } => {
                conn.free_pixmap(pix)?;
                if let Some(d) = desktop {
                    conn.free_pixmap(d)?;
                }
            }
            Kind::Video { frames } => {
                for f in frames {
                    conn.free_pixmap(f)?;
                }
            }
            Kind::WindowVideo {
                desktop, frames, ..
            } => {
                conn.free_pixmap(desktop)?;
                for f in frames {
                    conn.free_pixmap(f)?;
                }
            }
            Kind::Static | Kind::Typing { .. } => {}
        }
        conn.free_gc(self.gc)?;
        conn.flush()?;
        Ok(())
    }
}

fn lcm(a: u32, b: u32) -> u32 {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    a / gcd(a, b) * b
}

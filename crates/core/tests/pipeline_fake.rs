//! The whole pipeline driven frame by frame through `FakeSource`, without X: what goes out,
//! when, and what the viewer then has. Each test draws on a fake screen, steps the pipeline,
//! and checks the deliveries (decoded where their content matters).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use stripecast_core::capture::fake::FakeScreen;
use stripecast_core::encode::{
    BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind,
};
use stripecast_core::geometry::Region;
use stripecast_core::pipeline::{Controls, Delivery, Pipeline, PipelineError, Sink};
use stripecast_core::settings::CaptureOptions;
use stripecast_core::wire::Header;
use turbojpeg::{Decompressor, Image, PixelFormat};

const W: u32 = 64;
const H: u32 = 64;
const GREY: [u8; 4] = [60, 60, 60, 0];
const RED: [u8; 4] = [40, 40, 220, 0];
const BLUE: [u8; 4] = [220, 60, 40, 0];

/// Records what the pipeline hands over; refuses the next `refuse` deliveries.
#[derive(Default)]
struct Collect {
    deliveries: Mutex<Vec<Delivery>>,
    errors: Mutex<Vec<String>>,
    refuse: AtomicUsize,
}

impl Sink for Collect {
    fn deliver(&self, d: Delivery) -> bool {
        let refuse = self.refuse.load(Ordering::SeqCst);
        if refuse > 0 {
            self.refuse.store(refuse - 1, Ordering::SeqCst);
            return false;
        }
        self.deliveries.lock().unwrap().push(d);
        true
    }

    fn in_flight(&self) -> usize {
        0
    }

    fn error(&self, e: PipelineError) {
        self.errors.lock().unwrap().push(e.to_string());
    }
}

impl Collect {
    fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut self.deliveries.lock().unwrap())
    }
}

/// A pipeline over a fresh grey fake screen with `options` (full screen), its screen,
/// controls and sink.
fn pipeline(options: CaptureOptions) -> (Pipeline, FakeScreen, Controls, Collect) {
    let (screen, source) = FakeScreen::new(W, H, GREY);
    let config = options.validate().unwrap();
    let region = Region {
        x: 0,
        y: 0,
        width: W,
        height: H,
    };
    let p = Pipeline::new(config, Box::new(source), region).unwrap();
    let controls = p.controls();
    (p, screen, controls, Collect::default())
}

fn jpeg(extra: impl FnOnce(&mut CaptureOptions)) -> CaptureOptions {
    let mut o = CaptureOptions {
        output_mode: Some(0),
        stripe_height: Some(16),
        capture_cursor: Some(false),
        use_paint_over_quality: Some(false),
        ..CaptureOptions::default()
    };
    extra(&mut o);
    o
}

fn step(p: &mut Pipeline, c: &Controls, sink: &Collect) -> Vec<Delivery> {
    p.step(c, sink).expect("frame");
    sink.take()
}

/// (y, height) of each delivery, in stripe order.
fn bands(ds: &[Delivery]) -> Vec<(u32, u32)> {
    let mut v: Vec<_> = ds.iter().map(|d| (d.stripe_y, d.stripe_height)).collect();
    v.sort();
    v
}

/// The middle pixel of a JPEG delivery, as B, G, R.
fn middle(d: &Delivery) -> [u8; 3] {
    let (_, offset) = Header::parse(&d.data).expect("a header");
    let jpeg = &d.data[offset..];
    let mut dec = Decompressor::new().unwrap();
    let h = dec.read_header(jpeg).unwrap();
    let mut img = Image {
        pixels: vec![0u8; h.width * h.height * 4],
        width: h.width,
        pitch: h.width * 4,
        height: h.height,
        format: PixelFormat::BGRX,
    };
    dec.decompress(jpeg, img.as_deref_mut()).unwrap();
    let i = (h.height / 2 * h.width + h.width / 2) * 4;
    [img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]]
}

fn near(a: [u8; 3], b: [u8; 4]) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 12)
}

#[test]
fn the_first_frame_sends_every_stripe_then_only_the_band_that_changed() {
    let (mut p, screen, c, sink) = pipeline(jpeg(|_| {}));
    let first = step(&mut p, &c, &sink);
    assert_eq!(bands(&first), [(0, 16), (16, 16), (32, 16), (48, 16)]);
    assert!(first.iter().all(|d| near(middle(d), GREY)));
    assert!(
        step(&mut p, &c, &sink).is_empty(),
        "a still screen sends nothing"
    );
    // A 4-row box in stripe 2: its 16-row band (the whole stripe here) in red.
    screen.fill((8, 36, 48, 8), RED);
    let d = step(&mut p, &c, &sink);
    assert_eq!(bands(&d), [(32, 16)]);
    assert!(near(middle(&d[0]), RED));
    assert!(step(&mut p, &c, &sink).is_empty());
    // Drawn again with the same pixels: read and hashed, nothing to send.
    let read = screen.rows_read();
    screen.fill((8, 36, 48, 8), RED);
    assert!(step(&mut p, &c, &sink).is_empty());
    assert_eq!(
        screen.rows_read() - read,
        8,
        "only the drawn rows were read"
    );
}

#[test]
fn paint_over_after_n_still_frames_and_never_while_damaged() {
    let (mut p, screen, c, sink) = pipeline(jpeg(|o| {
        o.use_paint_over_quality = Some(true);
        o.paint_over_trigger_frames = Some(3);
        o.damage_block_threshold = Some(4);
        o.damage_block_duration = Some(5);
    }));
    step(&mut p, &c, &sink);
    // One change, then still: painted over on the 3rd still frame, once.
    screen.fill((0, 0, 8, 8), RED);
    // (The other stripes, sent by the first frame, are painted over on their own 3rd still
    // frame; only stripe 0 is followed here.)
    let stripe0 = |d: Vec<Delivery>| {
        d.into_iter()
            .filter(|d| d.stripe_y == 0)
            .collect::<Vec<_>>()
    };
    let mut log = String::new();
    for _ in 0..7 {
        let d = stripe0(step(&mut p, &c, &sink));
        log.push(match d.as_slice() {
            [] => '-',
            [d] if d.paint_over => 'P',
            [_] => 'S',
            _ => '?',
        });
    }
    assert_eq!(log, "S--P---");
    // Changed every frame: after 4 in a row the stripe is damaged for 5 frames; no paint-over
    // fires inside the block even when it is still there.
    let mut log = String::new();
    for i in 0..12 {
        if i < 6 {
            screen.fill((0, 0, 8, 8), if i % 2 == 0 { BLUE } else { RED });
        }
        let d = stripe0(step(&mut p, &c, &sink));
        log.push(match d.as_slice() {
            [] => '-',
            [d] if d.paint_over => 'P',
            [_] => 'S',
            _ => '?',
        });
    }
    // Six changes (the 4th enters the block, 5 frames long), two still frames inside it, its
    // hashed last frame finds nothing new and ends it; the still frames that count for the
    // paint-over start only then: it comes on the 3rd after the block.
    assert_eq!(log, "SSSSSS----P-", "{log}");
}

#[test]
fn a_damaged_stripe_is_sent_whenever_drawn_and_leaves_the_block_when_still() {
    let (mut p, screen, c, sink) = pipeline(jpeg(|o| {
        o.damage_block_threshold = Some(2);
        o.damage_block_duration = Some(4);
    }));
    step(&mut p, &c, &sink);
    screen.fill((0, 4, 64, 8), RED);
    assert_eq!(step(&mut p, &c, &sink).len(), 1);
    screen.fill((0, 4, 64, 8), BLUE);
    assert_eq!(
        step(&mut p, &c, &sink).len(),
        1,
        "the 2nd change enters the block"
    );
    // Inside the block a drawing is taken as a change without hashing: the same pixels drawn
    // again still go out.
    screen.fill((0, 4, 64, 8), BLUE);
    assert_eq!(step(&mut p, &c, &sink).len(), 1, "drawn in the block: sent");
    assert!(step(&mut p, &c, &sink).is_empty(), "not drawn: nothing");
    // The block's last frame hashes: nothing new since, so the stripe is normal again and an
    // identical redraw is not sent.
    assert!(step(&mut p, &c, &sink).is_empty());
    screen.fill((0, 4, 64, 8), BLUE);
    assert!(
        step(&mut p, &c, &sink).is_empty(),
        "hashed again: same pixels, nothing"
    );
    screen.fill((0, 4, 64, 8), RED);
    let d = step(&mut p, &c, &sink);
    assert_eq!(d.len(), 1);
    assert!(near(middle(&d[0]), RED));
}

/// An encoder that fails the first time it is ever asked to encode (all encoders of a
/// factory share the count), then encodes as JPEG.
struct FlakyJpeg {
    inner: Box<dyn Encoder>,
    calls: Arc<AtomicUsize>,
}

impl Encoder for FlakyJpeg {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(EncodeError::Jpeg("injected failure".into()));
        }
        self.inner.encode(image, request, out)
    }

    fn kind(&self) -> EncoderKind {
        EncoderKind::Jpeg
    }
}

#[test]
fn a_failed_encode_is_reported_and_retried_next_frame_with_a_fresh_encoder() {
    use stripecast_core::encode::jpeg::{JpegConfig, JpegEncoder};
    use stripecast_core::settings::Subsampling;
    let (p, _screen, c, sink) = pipeline(jpeg(|o| o.stripe_height = Some(64)));
    let (made, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (made2, calls2) = (made.clone(), calls.clone());
    let mut p = p.with_factory(Box::new(move |_, _| {
        made2.fetch_add(1, Ordering::SeqCst);
        let inner = JpegEncoder::new(JpegConfig {
            quality: 80,
            paint_over_quality: 90,
            subsampling: Subsampling::S420,
        });
        Ok(Box::new(FlakyJpeg {
            inner: Box::new(inner),
            calls: calls2.clone(),
        }) as Box<dyn Encoder>)
    }));
    assert!(step(&mut p, &c, &sink).is_empty(), "the only stripe failed");
    let errors = sink.errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("injected failure") && errors[0].contains("y=0"));
    assert_eq!(made.load(Ordering::SeqCst), 1);
    // Next frame: a fresh encoder, and the stripe goes out although nothing was drawn.
    let d = step(&mut p, &c, &sink);
    assert_eq!(bands(&d), [(0, 64)]);
    assert!(near(middle(&d[0]), GREY));
    assert_eq!(made.load(Ordering::SeqCst), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_refused_delivery_goes_out_again_next_frame() {
    let (mut p, _screen, c, sink) = pipeline(jpeg(|_| {}));
    sink.refuse.store(1, Ordering::SeqCst);
    assert_eq!(step(&mut p, &c, &sink).len(), 3, "one of four was refused");
    assert_eq!(step(&mut p, &c, &sink).len(), 1, "and is sent again");
    assert!(step(&mut p, &c, &sink).is_empty());
}

#[test]
fn a_keyframe_request_resends_every_stripe_as_an_idr() {
    let (mut p, screen, c, sink) = pipeline(CaptureOptions {
        output_mode: Some(1),
        h264_fullframe: Some(false),
        stripe_height: Some(32),
        use_cpu: Some(true),
        capture_cursor: Some(false),
        use_paint_over_quality: Some(false),
        ..CaptureOptions::default()
    });
    let first = step(&mut p, &c, &sink);
    assert_eq!(bands(&first), [(0, 32), (32, 32)]);
    assert!(first.iter().all(|d| d.key));
    screen.fill((0, 40, 16, 8), RED);
    let d = step(&mut p, &c, &sink);
    assert_eq!(bands(&d), [(32, 32)]);
    assert!(!d[0].key, "a change is a P picture");
    c.request_keyframe();
    let d = step(&mut p, &c, &sink);
    assert_eq!(
        bands(&d),
        [(0, 32), (32, 32)],
        "every stripe, unchanged or not"
    );
    assert!(d.iter().all(|d| d.key), "as IDRs");
    assert!(step(&mut p, &c, &sink).is_empty());
}

#[test]
fn a_resized_screen_refits_the_region_and_resends_it_or_ends_the_capture() {
    let (mut p, screen, c, sink) = pipeline(jpeg(|_| {}));
    step(&mut p, &c, &sink);
    screen.resize(48, 40);
    assert!(
        step(&mut p, &c, &sink).is_empty(),
        "the frame that sees the resize"
    );
    let d = step(&mut p, &c, &sink);
    assert_eq!(bands(&d), [(0, 16), (16, 16), (32, 8)]);
    assert!(d.iter().all(|d| d.width == 48));
    assert!(d.iter().all(|d| near(middle(d), GREY)));

    let (mut p, screen, c, sink) = pipeline(jpeg(|o| o.auto_resize = Some(false)));
    step(&mut p, &c, &sink);
    screen.resize(48, 40);
    match p.step(&c, &sink) {
        Err(PipelineError::ScreenChanged { to, .. }) => {
            assert_eq!(to, stripecast_core::geometry::Bounds::screen((48, 40)))
        }
        other => panic!("expected ScreenChanged, got {other:?}"),
    }
}

#[test]
fn a_lost_source_ends_the_capture_with_a_capture_error() {
    let (mut p, screen, c, sink) = pipeline(jpeg(|_| {}));
    step(&mut p, &c, &sink);
    screen.lose();
    assert!(matches!(p.step(&c, &sink), Err(PipelineError::Capture(_))));
}

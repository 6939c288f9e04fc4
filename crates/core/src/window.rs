//! A small rolling window over recent deliveries: latency percentiles and the current frame
//! rate, cheap to update per stripe and to read once a second.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many recent latencies the percentiles are taken over.
const LATENCY_SAMPLES: usize = 512;
/// The frame rate is counted over this much recent time.
const FPS_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct DeliveryWindow {
    latencies_ms: VecDeque<f64>,
    frames: VecDeque<Instant>,
    last_frame_id: Option<u32>,
}

/// What the window says now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowSnapshot {
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Distinct frames delivered during the last second.
    pub fps: f64,
}

impl DeliveryWindow {
    /// Records one delivered stripe of frame `frame_id`, `latency_ms` after its capture.
    pub fn record(&mut self, frame_id: u32, latency_ms: f64, now: Instant) {
        if self.latencies_ms.len() == LATENCY_SAMPLES {
            self.latencies_ms.pop_front();
        }
        self.latencies_ms.push_back(latency_ms);
        if self.last_frame_id != Some(frame_id) {
            self.last_frame_id = Some(frame_id);
            self.frames.push_back(now);
        }
        self.expire(now);
    }

    fn expire(&mut self, now: Instant) {
        while self
            .frames
            .front()
            .is_some_and(|&t| now.duration_since(t) > FPS_WINDOW)
        {
            self.frames.pop_front();
        }
    }

    pub fn snapshot(&mut self, now: Instant) -> WindowSnapshot {
        self.expire(now);
        let mut sorted: Vec<f64> = self.latencies_ms.iter().copied().collect();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let pick = |q: f64| {
            if sorted.is_empty() {
                0.0
            } else {
                sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)]
            }
        };
        WindowSnapshot {
            latency_p50_ms: pick(0.5),
            latency_p99_ms: pick(0.99),
            fps: self.frames.len() as f64 / FPS_WINDOW.as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_fps() {
        let mut w = DeliveryWindow::default();
        let t0 = Instant::now();
        // 30 frames over one second, 3 stripes each, latencies 1..=90 ms.
        let mut lat = 0.0;
        for f in 0..30u32 {
            for _ in 0..3 {
                lat += 1.0;
                w.record(f, lat, t0 + Duration::from_millis(f as u64 * 33));
            }
        }
        let s = w.snapshot(t0 + Duration::from_millis(990));
        assert_eq!(s.fps, 30.0);
        assert_eq!(s.latency_p50_ms, 46.0);
        assert_eq!(s.latency_p99_ms, 90.0);
        // Two seconds later nothing is recent.
        assert_eq!(w.snapshot(t0 + Duration::from_secs(3)).fps, 0.0);
    }

    #[test]
    fn latency_window_is_bounded() {
        let mut w = DeliveryWindow::default();
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            w.record(i, f64::from(i), t0);
        }
        assert_eq!(w.latencies_ms.len(), LATENCY_SAMPLES);
        assert!(w.snapshot(t0).latency_p50_ms >= 9_000.0);
    }
}

//! What this host offers for hardware H.264 (`hardwareEncoders()` in JavaScript).

use super::nvenc::{self, NvencProbe};
use super::vaapi::{self, VaapiProbe};
use super::{choose, HardwareChoice};

/// What this host offers for hardware H.264, without starting a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareReport {
    pub nvenc: NvencProbe,
    pub vaapi: VaapiProbe,
    /// What the default settings (`vaapiRenderNodeIndex: -1`, `useCpu: false`) would pick.
    pub default_choice: HardwareChoice,
}

impl HardwareReport {
    /// One human-readable line per thing that is missing, e.g.
    /// `nvenc: libnvidia-encode.so.1 not found`.
    pub fn reasons(&self) -> Vec<String> {
        self.nvenc
            .reason
            .iter()
            .cloned()
            .chain(self.vaapi.reason.iter().cloned())
            .chain(
                self.vaapi
                    .nodes
                    .iter()
                    .filter_map(|n| n.error.as_ref().map(|e| format!("vaapi: {}: {e}", n.path))),
            )
            .collect()
    }
}

/// Probes NVENC (libraries, API version, CUDA devices) and VA-API (render nodes, libva, per
/// node driver and H.264 encode support). Opens no encode session.
pub fn probe() -> HardwareReport {
    let nvenc = nvenc::probe();
    let vaapi = vaapi::probe();
    let default_choice = choose(-1, false);
    HardwareReport {
        nvenc,
        vaapi,
        default_choice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_nvenc_reports_why_and_picks_x264() {
        if nvenc::driver_present().is_ok() {
            eprintln!("skipped: this host has an NVENC driver");
            return;
        }
        let report = probe();
        assert!(!report.nvenc.available);
        assert!(matches!(
            report.default_choice,
            HardwareChoice::Software { .. }
        ));
        assert!(report
            .reasons()
            .iter()
            .any(|r| r.contains("libnvidia-encode.so.1 not found")));
    }
}

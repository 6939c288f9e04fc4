//! What VA-API offers on this host, node by node, without creating an encode context.

use super::display::{entrypoint_name, render_nodes, Display, PROFILES};
use super::libva::{Va, VaLibraries};

/// One render node as [`probe`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaapiNode {
    /// `vaapiRenderNodeIndex` for this node.
    pub index: u32,
    pub path: String,
    /// VA-API version and driver vendor string, when the display initialised.
    pub driver: Option<String>,
    /// H.264 encode support, e.g. `High (EncSlice)`.
    pub h264_encode: Vec<String>,
    /// Why this node cannot encode H.264 (`None` when it can).
    pub error: Option<String>,
}

/// What [`probe`] found out about VA-API on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaapiProbe {
    /// Some render node can encode H.264.
    pub available: bool,
    /// libva and libva-drm could be loaded.
    pub libva_loaded: bool,
    pub nodes: Vec<VaapiNode>,
    /// Why VA-API is not available at all (`None` when some node can encode).
    pub reason: Option<String>,
}

/// Lists the render nodes and, when libva loads, what each one's driver offers for H.264
/// encoding. Creates no encode context.
pub fn probe() -> VaapiProbe {
    probe_with(&VaLibraries::from_env())
}

/// [`probe`] with explicit library names.
pub fn probe_with(libs: &VaLibraries) -> VaapiProbe {
    let nodes = render_nodes();
    let va = Va::load(libs);
    let libva_loaded = va.is_ok();
    let mut out = Vec::new();
    for (index, path) in &nodes {
        let mut node = VaapiNode {
            index: *index,
            path: path.display().to_string(),
            driver: None,
            h264_encode: Vec::new(),
            error: None,
        };
        match &va {
            Err(e) => node.error = Some(e.to_string()),
            Ok(va) => match Display::open(va, path) {
                Err(e) => node.error = Some(e.to_string()),
                Ok(mut d) => {
                    node.driver = Some(format!(
                        "VA-API {}.{} {}",
                        d.version.0, d.version.1, d.vendor
                    ));
                    for (_, profile, name) in PROFILES {
                        for e in d.encode_entrypoints(va, profile) {
                            node.h264_encode
                                .push(format!("{name} ({})", entrypoint_name(e)));
                        }
                    }
                    if node.h264_encode.is_empty() {
                        node.error = Some("the driver offers no H.264 encoding".into());
                    }
                    d.terminate(va);
                }
            },
        }
        out.push(node);
    }
    let available = out.iter().any(|n| n.error.is_none());
    let reason = if available {
        None
    } else if nodes.is_empty() {
        Some("vaapi: no render nodes in /dev/dri".to_string())
    } else if let Err(e) = &va {
        Some(e.to_string())
    } else {
        Some("vaapi: no render node can encode H.264".to_string())
    };
    VaapiProbe {
        available,
        libva_loaded,
        nodes: out,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_without_render_nodes_says_so() {
        let p = probe();
        if render_nodes().is_empty() {
            assert!(!p.available);
            assert!(p.nodes.is_empty());
            assert_eq!(
                p.reason.as_deref(),
                Some("vaapi: no render nodes in /dev/dri")
            );
        } else {
            assert_eq!(p.nodes.len(), render_nodes().len());
        }
    }
}

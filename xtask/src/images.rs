//! Draws the widget's logos (our own artwork): a rounded tile in Rulebook blue with an open book and a
//! check mark, rendered with anti-aliased signed distances, at each size Kommo asks for.

use std::{fs::File, io::BufWriter, path::Path};

use anyhow::Context;

/// The images Kommo expects, with their pixel sizes (kommo-platform.md §1.1).
pub const LOGOS: [(&str, u32, u32); 6] = [
    ("logo_main.png", 400, 272),
    ("logo_small.png", 108, 108),
    ("logo_medium.png", 240, 84),
    ("logo_min.png", 84, 84),
    ("logo.png", 130, 100),
    ("logo_dp.png", 174, 109),
];

/// Writes every logo into `dir`.
pub fn write_all(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, w, h) in LOGOS {
        let path = dir.join(name);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Best);
        encoder.write_header()?.write_image_data(&draw(w, h))?;
    }
    Ok(())
}

fn clamp01(x: f32) -> f32 {
    x.clamp(0.0, 1.0)
}

/// Coverage of a shape from its signed distance (negative inside), one pixel of anti-aliasing.
fn coverage(d: f32) -> f32 {
    clamp01(0.5 - d)
}

fn rounded_rect(px: f32, py: f32, cx: f32, cy: f32, hw: f32, hh: f32, r: f32) -> f32 {
    let qx = (px - cx).abs() - hw + r;
    let qy = (py - cy).abs() - hh + r;
    let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
    outside + qx.max(qy).min(0.0) - r
}

fn segment(px: f32, py: f32, (ax, ay): (f32, f32), (bx, by): (f32, f32), width: f32) -> f32 {
    let (pax, pay, bax, bay) = (px - ax, py - ay, bx - ax, by - ay);
    let h = clamp01((pax * bax + pay * bay) / (bax * bax + bay * bay));
    ((pax - bax * h).powi(2) + (pay - bay * h).powi(2)).sqrt() - width / 2.0
}

fn blend(dst: [f32; 4], src: [f32; 3], alpha: f32) -> [f32; 4] {
    [
        dst[0] * (1.0 - alpha) + src[0] * alpha,
        dst[1] * (1.0 - alpha) + src[1] * alpha,
        dst[2] * (1.0 - alpha) + src[2] * alpha,
        dst[3] + (1.0 - dst[3]) * alpha,
    ]
}

fn draw(w: u32, h: u32) -> Vec<u8> {
    let (wf, hf) = (w as f32, h as f32);
    // The emblem is a square tile centred in the image, as tall as the image allows.
    let side = hf.min(wf) * 0.9;
    let (cx, cy) = (wf / 2.0, hf / 2.0);
    let s = side / 100.0; // emblem units: 100 across
    let mut out = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let (ux, uy) = ((px - cx) / s, (py - cy) / s);
            let mut c = [0.0f32, 0.0, 0.0, 0.0];
            // Tile with a vertical gradient from indigo to blue.
            let t = clamp01((uy + 50.0) / 100.0);
            let tile = [0.23 + 0.12 * t, 0.36 + 0.12 * t, 0.86 + 0.1 * t];
            c = blend(
                c,
                tile,
                coverage(rounded_rect(ux, uy, 0.0, 0.0, 50.0, 50.0, 18.0) * s),
            );
            // Open book: two pages meeting at the spine.
            let white = [1.0, 1.0, 1.0];
            let left = rounded_rect(ux, uy, -17.0, 4.0, 15.0, 22.0, 3.0);
            let right = rounded_rect(ux, uy, 17.0, 4.0, 15.0, 22.0, 3.0);
            c = blend(c, white, coverage(left.min(right) * s) * 0.95);
            // Lines of text on the left page.
            let ink = [0.27, 0.4, 0.88];
            for (i, len) in [22.0f32, 18.0, 20.0].iter().enumerate() {
                let ly = -6.0 + i as f32 * 9.0;
                let line = segment(ux, uy, (-28.0, ly), (-28.0 + len, ly), 3.0);
                c = blend(c, ink, coverage(line * s));
            }
            // A check mark on the right page: the rule fired.
            let check = segment(ux, uy, (8.0, 4.0), (15.0, 12.0), 5.0).min(segment(
                ux,
                uy,
                (15.0, 12.0),
                (27.0, -6.0),
                5.0,
            ));
            c = blend(c, [0.13, 0.68, 0.42], coverage(check * s));
            // The first layer was blended onto transparent black: un-premultiply its colour.
            let a = c[3];
            let un = |v: f32| if a > 0.0 { clamp01(v / a) } else { 0.0 };
            out.extend([
                (un(c[0]) * 255.0).round() as u8,
                (un(c[1]) * 255.0).round() as u8,
                (un(c[2]) * 255.0).round() as u8,
                (a * 255.0).round() as u8,
            ]);
        }
    }
    out
}

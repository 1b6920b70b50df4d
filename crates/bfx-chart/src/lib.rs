//! `bfx history chart`: the portfolio's value over time ([`bfx_store::value::ValueSeries`]) drawn
//! as one picture, SVG or PNG from the same renderer (plotters): the total as a line, stacked
//! areas per asset or per account under it, deposits and withdrawals marked on the total line,
//! dated axes, the quote currency in the axis title, a legend.
//!
//! Layout is ours (pixel coordinates, no text measured), so SVG needs no font file: its text is
//! SVG text. PNG text is rasterised from a TrueType font found at run time ([`find_font`]).
//! Floats only here, at the drawing edge; the series itself stays exact.

mod layout;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bfx_store::value::ValueSeries;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub use layout::{DateTick, ValueTicks, date_ticks, format_value, value_ticks};

/// What the stacked areas split the total into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StackBy {
    #[default]
    Asset,
    Account,
}

/// The picture's size and what its areas show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartOptions {
    pub by: StackBy,
    pub width: u32,
    pub height: u32,
}

impl Default for ChartOptions {
    fn default() -> ChartOptions {
        ChartOptions { by: StackBy::Asset, width: 1200, height: 600 }
    }
}

/// The smallest and largest picture drawn (a PNG of the largest is 4000 × 4000 × 3 bytes in memory).
pub const MIN_SIZE: (u32, u32) = (400, 250);
pub const MAX_SIZE: (u32, u32) = (4000, 4000);

/// At most this many stacked areas; the smaller ones are summed into "other".
pub const MAX_LAYERS: usize = 8;
/// At most this many deposit and withdrawal markers (the largest kept).
pub const MAX_MARKERS: usize = 1000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    #[error("no points to draw")]
    Empty,
    #[error("a chart is {}x{} to {}x{} pixels; {width}x{height} asked", MIN_SIZE.0, MIN_SIZE.1, MAX_SIZE.0, MAX_SIZE.1)]
    Size { width: u32, height: u32 },
    #[error(
        "no TrueType font found for the PNG's text (tried {tried}); install one (Debian: apt-get install fonts-dejavu-core) or set BFX_FONT to a .ttf file"
    )]
    NoFont { tried: String },
    #[error("the font {path} cannot be used: {reason}")]
    BadFont { path: PathBuf, reason: String },
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Png(String),
}

/// The series drawn as an SVG document. Needs no font file.
pub fn svg(series: &ValueSeries, options: &ChartOptions) -> Result<String, ChartError> {
    let (width, height) = checked_size(options)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        draw(&root, series, options)?;
        root.present().map_err(draw_error)?;
    }
    Ok(out)
}

/// The series drawn as a PNG file's bytes, its text in the TrueType font at `font`.
pub fn png(series: &ValueSeries, options: &ChartOptions, font: &Path) -> Result<Vec<u8>, ChartError> {
    let (width, height) = checked_size(options)?;
    register_font(font)?;
    let pixels = usize::try_from(u64::from(width) * u64::from(height) * 3)
        .map_err(|_| ChartError::Size { width, height })?;
    let mut rgb = vec![0u8; pixels];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw(&root, series, options)?;
        root.present().map_err(draw_error)?;
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header().map_err(|e| ChartError::Png(e.to_string()))?;
    writer.write_image_data(&rgb).map_err(|e| ChartError::Png(e.to_string()))?;
    writer.finish().map_err(|e| ChartError::Png(e.to_string()))?;
    Ok(bytes)
}

/// Where the font is: `configured` (`BFX_FONT`) when given, else the first of the usual DejaVu
/// and Liberation paths that exists, else what fontconfig's `fc-match sans` names.
pub fn find_font(configured: Option<&Path>) -> Result<PathBuf, ChartError> {
    if let Some(path) = configured {
        return match path.is_file() {
            true => Ok(path.to_owned()),
            false => Err(ChartError::NoFont { tried: format!("BFX_FONT={}", path.display()) }),
        };
    }
    const KNOWN: [&str; 4] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ];
    if let Some(found) = KNOWN.iter().map(Path::new).find(|p| p.is_file()) {
        return Ok(found.to_owned());
    }
    let matched = std::process::Command::new("fc-match")
        .args(["--format=%{file}", "sans:fontformat=TrueType"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ttf")));
    matched.ok_or_else(|| ChartError::NoFont { tried: format!("{}, fc-match", KNOWN.join(", ")) })
}

/// plotters keeps fonts by family name for the process, from `'static` bytes: the first font
/// registered is read once and kept (a few hundred KB); later calls reuse it.
fn register_font(path: &Path) -> Result<(), ChartError> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    let registered = FONT.get_or_init(|| {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| "not a TrueType or OpenType font".to_owned())
    });
    registered.clone().map_err(|reason| ChartError::BadFont { path: path.to_owned(), reason })
}

fn checked_size(options: &ChartOptions) -> Result<(u32, u32), ChartError> {
    let (width, height) = (options.width, options.height);
    if !(MIN_SIZE.0..=MAX_SIZE.0).contains(&width) || !(MIN_SIZE.1..=MAX_SIZE.1).contains(&height) {
        return Err(ChartError::Size { width, height });
    }
    Ok((width, height))
}

fn draw_error<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::Draw(error.to_string())
}

const FAMILY: &str = "sans-serif";
const TEXT: RGBColor = RGBColor(40, 40, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);
const TOTAL: RGBColor = RGBColor(20, 20, 20);
const DEPOSIT: RGBColor = RGBColor(0, 140, 60);
const WITHDRAWAL: RGBColor = RGBColor(200, 30, 30);
/// The areas' colours (Tableau 10, which stays apart for most colour-blind readers), the last
/// for "other".
const PALETTE: [RGBColor; 9] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

/// One stacked area: a name and its value at each point.
#[derive(Debug, Clone, PartialEq)]
struct Layer {
    name: String,
    values: Vec<f64>,
}

/// The series as floats: what is drawn.
#[derive(Debug, Clone, PartialEq)]
struct Prepared {
    mts: Vec<i64>,
    total: Vec<f64>,
    layers: Vec<Layer>,
    /// `(point, value)` of each point's deposits (> 0) and withdrawals (< 0).
    flows: Vec<(usize, f64)>,
    unpriced: BTreeSet<String>,
}

fn float(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

fn prepare(series: &ValueSeries, by: StackBy) -> Prepared {
    let parts = |p: &bfx_store::value::ValuePoint| match by {
        StackBy::Asset => p.assets.clone(),
        StackBy::Account => p.accounts.clone(),
    };
    // Each name's largest value at any point orders the layers, largest at the bottom.
    let mut largest: BTreeMap<String, f64> = BTreeMap::new();
    for point in &series.points {
        for (name, value) in parts(point) {
            let v = float(value).abs();
            let entry = largest.entry(name).or_insert(0.0);
            *entry = entry.max(v);
        }
    }
    let mut names: Vec<(String, f64)> = largest.into_iter().collect();
    names.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keep = if names.len() > MAX_LAYERS { MAX_LAYERS - 1 } else { names.len() };
    let rest: Vec<String> = names.iter().skip(keep).map(|(n, _)| n.clone()).collect();
    let mut layers: Vec<Layer> = names
        .iter()
        .take(keep)
        .map(|(name, _)| Layer {
            name: name.clone(),
            values: series.points.iter().map(|p| parts(p).get(name).copied().map_or(0.0, float)).collect(),
        })
        .collect();
    if !rest.is_empty() {
        layers.push(Layer {
            name: format!("other ({})", rest.len()),
            values: series
                .points
                .iter()
                .map(|p| {
                    let parts = parts(p);
                    rest.iter().filter_map(|n| parts.get(n)).map(|v| float(*v)).sum()
                })
                .collect(),
        });
    }
    let mut flows: Vec<(usize, f64)> = (series.points.iter().enumerate())
        .flat_map(|(i, p)| [(i, p.deposits), (i, p.withdrawals)])
        .filter(|(_, value)| !value.is_zero())
        .map(|(i, value)| (i, float(value)))
        .collect();
    if flows.len() > MAX_MARKERS {
        flows.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        flows.truncate(MAX_MARKERS);
        flows.sort_by_key(|f| f.0);
    }
    Prepared {
        mts: series.points.iter().map(|p| p.mts).collect(),
        total: series.points.iter().map(|p| float(p.total)).collect(),
        layers,
        flows,
        unpriced: series.points.iter().flat_map(|p| p.unpriced.iter().cloned()).collect(),
    }
}

/// Each layer's band at each point, `(low, high)`: positive values stacked up from 0, negative
/// ones down from it.
fn stack(layers: &[Layer], points: usize) -> Vec<Vec<(f64, f64)>> {
    let (mut up, mut down) = (vec![0.0; points], vec![0.0; points]);
    layers
        .iter()
        .map(|layer| {
            layer
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if *v >= 0.0 {
                        let low = up[i];
                        up[i] += v;
                        (low, up[i])
                    } else {
                        let high = down[i];
                        down[i] += v;
                        (down[i], high)
                    }
                })
                .collect()
        })
        .collect()
}

/// The total at `mts`, on the line between the points around it.
fn text_style(size: u32, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle {
        font: (FAMILY, f64::from(size)).into_font(),
        color: color.to_backend_color(),
        pos: Pos::new(h, v),
    }
}

/// `YYYY-MM-DD` of a moment (UTC).
fn date(mts: i64) -> String {
    jiff::Timestamp::from_millisecond(mts)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &ValueSeries,
    options: &ChartOptions,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let (Some(first), Some(last)) = (series.points.first(), series.points.last()) else {
        return Err(ChartError::Empty);
    };
    let prepared = prepare(series, options.by);
    let bands = stack(&prepared.layers, prepared.mts.len());
    let e = draw_error::<DB::ErrorType>;
    root.fill(&WHITE).map_err(e)?;

    let (width, height) = (options.width as i32, options.height as i32);
    let legend_width = 200;
    let (left, right, top, bottom) = (110, width - legend_width, 78, height - 56);

    // Title and subtitle.
    let by = match options.by {
        StackBy::Asset => "asset",
        StackBy::Account => "account",
    };
    let title = format!("Portfolio value in {}, {} to {}", series.quote, date(first.mts), date(last.mts));
    root.draw(&Text::new(title, (left, 14), text_style(22, TEXT, HPos::Left, VPos::Top))).map_err(e)?;
    let mut subtitle = format!(
        "At the end (UTC) of each {}, stored balances at that day's closes; areas by {by}",
        series.step.name()
    );
    if !prepared.unpriced.is_empty() {
        let names: Vec<&str> = prepared.unpriced.iter().map(String::as_str).collect();
        subtitle.push_str(&format!("; {} unpriced, left out", names.join(", ")));
    }
    root.draw(&Text::new(subtitle, (left, 44), text_style(14, TEXT, HPos::Left, VPos::Top))).map_err(e)?;

    // Scales.
    let (mut t0, mut t1) = (first.mts, last.mts);
    if t1 <= t0 {
        (t0, t1) = (t0 - layout::DAY_MS / 2, t1 + layout::DAY_MS / 2);
    }
    let mut low = 0.0f64;
    let mut high = 0.0f64;
    for v in prepared.total.iter().chain(bands.iter().flatten().flat_map(|(l, h)| [l, h])) {
        low = low.min(*v);
        high = high.max(*v);
    }
    let ticks = value_ticks(low, high, ((bottom - top) / 50).clamp(2, 12) as usize);
    let (vlow, vhigh) = (
        ticks.values.first().copied().unwrap_or(low).min(low),
        ticks.values.last().copied().unwrap_or(high).max(high),
    );
    let vspan = if vhigh > vlow { vhigh - vlow } else { 1.0 };
    let x =
        |mts: i64| left + (((mts - t0) as f64 / (t1 - t0) as f64) * f64::from(right - left)).round() as i32;
    let y = |v: f64| bottom - (((v - vlow) / vspan) * f64::from(bottom - top)).round() as i32;

    // Grid and value axis.
    let label = text_style(13, TEXT, HPos::Right, VPos::Center);
    for v in &ticks.values {
        root.draw(&PathElement::new(vec![(left, y(*v)), (right, y(*v))], GRID)).map_err(e)?;
        root.draw(&Text::new(format_value(*v, ticks.decimals), (left - 8, y(*v)), label.clone()))
            .map_err(e)?;
    }
    let axis_title = format!("Value ({})", series.quote);
    root.draw(&Text::new(axis_title, (left - 8, top - 14), text_style(13, TEXT, HPos::Right, VPos::Bottom)))
        .map_err(e)?;
    // Date axis.
    let dates = date_ticks(t0, t1, ((right - left) / 110).max(2) as usize);
    let below = text_style(13, TEXT, HPos::Center, VPos::Top);
    for tick in &dates {
        let at = x(tick.mts);
        root.draw(&PathElement::new(vec![(at, top), (at, bottom)], GRID)).map_err(e)?;
        root.draw(&PathElement::new(vec![(at, bottom), (at, bottom + 5)], TEXT)).map_err(e)?;
        root.draw(&Text::new(tick.label.clone(), (at, bottom + 9), below.clone())).map_err(e)?;
    }
    root.draw(&Text::new(
        "Date (UTC)".to_owned(),
        ((left + right) / 2, bottom + 32),
        text_style(13, TEXT, HPos::Center, VPos::Top),
    ))
    .map_err(e)?;

    // Stacked areas, then the total, then the markers on it.
    for (i, band) in bands.iter().enumerate() {
        let color = layer_color(i, prepared.layers.len(), prepared.layers[i].name.starts_with("other ("));
        let mut outline: Vec<(i32, i32)> =
            band.iter().zip(&prepared.mts).map(|((_, high), mts)| (x(*mts), y(*high))).collect();
        outline.extend(band.iter().zip(&prepared.mts).rev().map(|((low, _), mts)| (x(*mts), y(*low))));
        if band.len() == 1 {
            // One point: a bar a few pixels wide.
            let (at, (low, high)) = (x(prepared.mts[0]), band[0]);
            outline = vec![(at - 3, y(high)), (at + 3, y(high)), (at + 3, y(low)), (at - 3, y(low))];
        }
        root.draw(&Polygon::new(outline, color.mix(0.75).filled())).map_err(e)?;
    }
    root.draw(&PathElement::new(vec![(left, y(0.0)), (right, y(0.0))], TEXT)).map_err(e)?;
    root.draw(&PathElement::new(vec![(left, top), (left, bottom)], TEXT)).map_err(e)?;
    let line: Vec<(i32, i32)> =
        prepared.mts.iter().zip(&prepared.total).map(|(m, v)| (x(*m), y(*v))).collect();
    root.draw(&PathElement::new(line.clone(), TOTAL.stroke_width(2))).map_err(e)?;
    if line.len() == 1 {
        root.draw(&Circle::new(line[0], 4, TOTAL.filled())).map_err(e)?;
    }
    for (point, value) in &prepared.flows {
        root.draw(&marker(line[*point].0, line[*point].1, *value >= 0.0)).map_err(e)?;
    }

    // Legend, right of the plot.
    let (lx, mut ly) = (right + 24, top);
    let entry = text_style(13, TEXT, HPos::Left, VPos::Center);
    root.draw(&PathElement::new(vec![(lx, ly), (lx + 18, ly)], TOTAL.stroke_width(2))).map_err(e)?;
    root.draw(&Text::new("total".to_owned(), (lx + 26, ly), entry.clone())).map_err(e)?;
    ly += 22;
    for (up, name) in [(true, "deposits"), (false, "withdrawals")] {
        root.draw(&marker(lx + 9, if up { ly - 7 } else { ly + 7 }, up)).map_err(e)?;
        root.draw(&Text::new(name.to_owned(), (lx + 26, ly), entry.clone())).map_err(e)?;
        ly += 22;
    }
    ly += 8;
    root.draw(&Text::new(format!("by {by}:"), (lx, ly), entry.clone())).map_err(e)?;
    ly += 22;
    // Top of the stack first, as the areas are drawn.
    for (i, layer) in prepared.layers.iter().enumerate().rev() {
        let color = layer_color(i, prepared.layers.len(), layer.name.starts_with("other ("));
        root.draw(&Rectangle::new([(lx, ly - 7), (lx + 18, ly + 7)], color.mix(0.75).filled())).map_err(e)?;
        root.draw(&Text::new(layer.name.clone(), (lx + 26, ly), entry.clone())).map_err(e)?;
        ly += 22;
    }
    Ok(())
}

fn layer_color(index: usize, layers: usize, other: bool) -> RGBColor {
    match other && index + 1 == layers {
        true => PALETTE[PALETTE.len() - 1],
        false => PALETTE[index % (PALETTE.len() - 1)],
    }
}

/// A deposit's triangle points up, a withdrawal's down, its tip on the total line.
fn marker(x: i32, y: i32, up: bool) -> Polygon<(i32, i32)> {
    let (size, color) = (7, if up { DEPOSIT } else { WITHDRAWAL });
    let points = match up {
        true => vec![(x, y), (x - size, y + 2 * size), (x + size, y + 2 * size)],
        false => vec![(x, y), (x - size, y - 2 * size), (x + size, y - 2 * size)],
    };
    Polygon::new(points, color.filled())
}

#[cfg(test)]
mod tests;

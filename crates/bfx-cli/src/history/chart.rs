//! `bfx history chart`: the series `bfx history value` computes ([`super::value::compute`]),
//! drawn by `bfx_chart` as SVG or PNG (by the file's extension) and written atomically: a
//! temporary file in the same directory, renamed over the target, so a reader never sees half a
//! chart and a failure leaves any earlier file as it was.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use bfx_chart::{ChartError, ChartOptions, StackBy};
use bfx_client::Client;
use bfx_store::Store;

use super::value::{Ask, Valued, compute};
use crate::cli::{ChartBy, HistoryChartArgs};
use crate::config::ConfigError;
use crate::exit::Exit;
use crate::output::{terminal_safe, write_stderr};

/// What to draw, where, checked before anything is fetched.
#[derive(Debug)]
pub struct Draw {
    out: PathBuf,
    options: ChartOptions,
    /// `None` for SVG; for PNG, the TrueType font its text is drawn in.
    font: Option<PathBuf>,
}

impl Draw {
    pub fn parse(args: &HistoryChartArgs, env: &HashMap<String, String>) -> Result<Draw, ConfigError> {
        let (width, height) = size(&args.size)?;
        let options = ChartOptions {
            by: match args.by {
                ChartBy::Asset => StackBy::Asset,
                ChartBy::Account => StackBy::Account,
            },
            width,
            height,
        };
        let extension = args.out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let font = match extension.as_deref() {
            Some("svg") => None,
            Some("png") => {
                let configured = env.get("BFX_FONT").filter(|f| !f.is_empty()).map(Path::new);
                Some(bfx_chart::find_font(configured).map_err(|e| ConfigError::Invalid(e.to_string()))?)
            }
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "--out {}: the chart is written as SVG or PNG; name the file .svg or .png",
                    args.out.display()
                )));
            }
        };
        Ok(Draw { out: args.out.clone(), options, font })
    }
}

/// `1200x600` → (1200, 600), within `bfx_chart`'s bounds.
fn size(text: &str) -> Result<(u32, u32), ConfigError> {
    let bad = || {
        ConfigError::Invalid(format!(
            "--size {text:?}: expected WIDTHxHEIGHT from {}x{} to {}x{} pixels, like 1200x600",
            bfx_chart::MIN_SIZE.0,
            bfx_chart::MIN_SIZE.1,
            bfx_chart::MAX_SIZE.0,
            bfx_chart::MAX_SIZE.1
        ))
    };
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
    let fits = (bfx_chart::MIN_SIZE.0..=bfx_chart::MAX_SIZE.0).contains(&w)
        && (bfx_chart::MIN_SIZE.1..=bfx_chart::MAX_SIZE.1).contains(&h);
    if !fits {
        return Err(bad());
    }
    Ok((w, h))
}

pub async fn run(client: &Client, store: &Store, ask: Ask, draw: Draw, now: i64) -> anyhow::Result<Exit> {
    let Valued { series, completeness, .. } = match compute(client, store, ask, now).await? {
        Ok(valued) => valued,
        Err(exit) => return Ok(exit),
    };
    let drawn = match &draw.font {
        None => bfx_chart::svg(&series, &draw.options).map(String::into_bytes),
        Some(font) => bfx_chart::png(&series, &draw.options, font),
    };
    let bytes = match drawn {
        Ok(bytes) => bytes,
        Err(e @ (ChartError::Empty | ChartError::BadFont { .. } | ChartError::NoFont { .. })) => {
            return Err(ConfigError::Invalid(e.to_string()).into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Err(e) = write_atomically(&draw.out, &bytes) {
        write_stderr(&format!(
            "error: writing {}: {}\n",
            terminal_safe(&draw.out.display().to_string()),
            terminal_safe(&e.to_string())
        ));
        return Ok(Exit::Usage);
    }
    write_stderr(&completeness.notes());
    write_stderr(&format!("bfx: chart written to {}\n", terminal_safe(&draw.out.display().to_string())));
    Ok(Exit::Ok)
}

/// `bytes` into `path`: written to a temporary file beside it, flushed, then renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".bfx-chart-").suffix(".tmp");
    #[cfg(unix)]
    {
        // A picture, not a secret: readable as any new file is (the umask applies).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_width_by_height_within_bounds() {
        assert_eq!(size("1200x600").ok(), Some((1200, 600)));
        assert_eq!(size("800X400").ok(), Some((800, 400)));
        for bad in ["1200", "x", "10x10", "99999x600", "1200x-1", "axb"] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.svg");
        std::fs::write(&path, "old")?;
        write_atomically(&path, b"new")?;
        assert_eq!(std::fs::read_to_string(&path)?, "new");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        // Into a directory that does not exist: an error, nothing written.
        assert!(write_atomically(&dir.path().join("no/such/c.svg"), b"x").is_err());
        Ok(())
    }
}

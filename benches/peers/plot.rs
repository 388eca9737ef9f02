//! SVG plot (placeholder until written).

use std::io;
use std::path::Path;

use crate::compare::{Cell, Scenario};

/// Draws the plot.
pub fn draw(_path: &Path, _scenarios: &[Scenario], _cells: &[Cell]) -> io::Result<()> {
    Ok(())
}

//! Compresses the bundled price table (`data/model_prices.json`, ~800 KB of JSON) into
//! `$OUT_DIR/model_prices.json.deflate` (~50 KB), which `pricing.rs` embeds and inflates once
//! on first use: the table is most of the binary's data otherwise.

fn main() {
    let src = std::path::Path::new("data/model_prices.json");
    println!("cargo::rerun-if-changed={}", src.display());
    let json = std::fs::read(src).unwrap_or_else(|e| fail(&format!("{}: {e}", src.display())));
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default())
        .join("model_prices.json.deflate");
    std::fs::write(&out, packed).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

//! Generates the agent service from proto/. protoc comes from the protoc-bin-vendored crate so a
//! fresh machine needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; the variable is read by tonic-prost-build.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure().compile_protos(&["proto/boxlite/v1/agent.proto"], &["proto"])?;
    Ok(())
}

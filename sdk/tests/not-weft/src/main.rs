//! A plain `wasi:cli/command` component: valid WebAssembly, but not a Weft component.

fn main() {
    println!("not a Weft component");
}

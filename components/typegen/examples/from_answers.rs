//! Prints the types for catalog answers saved as `DIR/NAME.json` (one per
//! catalog query): `cargo run -p typegen --example from_answers DIR [VERSION]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let mut cat = typegen::Catalog::default();
    for (name, _) in typegen::queries() {
        let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect(name);
        cat.set(name, &json).unwrap();
    }
    let opts = typegen::Options {
        detect_one_to_one: true,
        postgrest_version: args.next(),
    };
    print!("{}", typegen::generate(&cat, &opts));
}

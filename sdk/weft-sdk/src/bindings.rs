//! The generated bindings of the WIT world `weft:component/component` (`wit/` at the repository
//! root). Component authors never use these directly: [`crate::export_component!`] and the
//! modules of this crate wrap them.

wit_bindgen::generate!({
    path: "../../wit",
    world: "component",
    runtime_path: "weft_sdk::__private::wit_bindgen::rt",
    default_bindings_module: "weft_sdk::bindings",
    export_macro_name: "__export_raw",
    pub_export_macro: true,
});

use boxlite_core::BoxOptions;
use pyo3::prelude::*;

/// Options of a box; mirrors core's `BoxOptions`. Validated by core when the box is created.
#[pyclass(name = "BoxOptions", module = "boxlite._boxlite", from_py_object)]
#[derive(Clone)]
pub(crate) struct PyBoxOptions {
    #[pyo3(get, set)]
    image: String,
    #[pyo3(get, set)]
    env: Vec<(String, String)>,
    #[pyo3(get, set)]
    working_dir: Option<String>,
    #[pyo3(get, set)]
    cmd: Option<Vec<String>>,
    #[pyo3(get, set)]
    entrypoint: Option<Vec<String>>,
    #[pyo3(get, set)]
    user: Option<String>,
    #[pyo3(get, set)]
    cpus: Option<f64>,
    #[pyo3(get, set)]
    memory_mib: Option<u64>,
    #[pyo3(get, set)]
    auto_remove: bool,
    #[pyo3(get, set)]
    detach: bool,
}

#[pymethods]
impl PyBoxOptions {
    #[new]
    #[pyo3(signature = (image, *, env=Vec::new(), working_dir=None, cmd=None, entrypoint=None,
                        user=None, cpus=None, memory_mib=None, auto_remove=false, detach=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        image: String,
        env: Vec<(String, String)>,
        working_dir: Option<String>,
        cmd: Option<Vec<String>>,
        entrypoint: Option<Vec<String>>,
        user: Option<String>,
        cpus: Option<f64>,
        memory_mib: Option<u64>,
        auto_remove: bool,
        detach: bool,
    ) -> Self {
        PyBoxOptions {
            image,
            env,
            working_dir,
            cmd,
            entrypoint,
            user,
            cpus,
            memory_mib,
            auto_remove,
            detach,
        }
    }

    fn __repr__(&self) -> String {
        format!("BoxOptions(image={:?})", self.image)
    }
}

impl From<PyBoxOptions> for BoxOptions {
    fn from(o: PyBoxOptions) -> Self {
        BoxOptions {
            image: o.image,
            env: o.env,
            working_dir: o.working_dir,
            cmd: o.cmd,
            entrypoint: o.entrypoint,
            user: o.user,
            cpus: o.cpus,
            memory_mib: o.memory_mib,
            auto_remove: o.auto_remove,
            detach: o.detach,
        }
    }
}

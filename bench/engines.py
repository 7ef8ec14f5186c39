"""The engines, the table's columns: which are installed, and how to install the rest.

Each workload module holds its own code for each engine; this module only says
whether an engine can run here (its modules import), what runs in its column,
and the command that installs it when it is missing.
"""
import dataclasses
import importlib
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

MICROGRADC_INSTALL = 'pip install -e .  (from the repository root)'


@dataclass(frozen=True)
class Engine:
    """One column of the table; `missing` says why it cannot run here ('' when it can)."""
    name: str          # the column's heading
    about: str         # what runs in the column, one line
    modules: tuple     # the modules it imports
    distribution: str  # the package whose version the report names
    install: str       # the command that installs it
    missing: str = ''  # the import error, '' when installed

    @property
    def present(self):
        return not self.missing

    @property
    def version(self):
        """The installed version of its distribution, or 'unknown'."""
        try:
            return metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return 'unknown'


ENGINES = (
    Engine('micrograd', "micrograd, the reference: its Value and MLP",
           ('micrograd.engine', 'micrograd.nn'), 'micrograd', 'pip install "micrograd>=0.1.0"'),
    Engine('drop-in', "micrograd's code with microgradc.engine.Value and microgradc.nn.MLP "
           "imported instead", ('microgradc.engine', 'microgradc.nn'), 'microgradc',
           MICROGRADC_INSTALL),
    Engine('nn', "microgradc idiomatic: microgradc.nn, microgradc.losses, microgradc.optim",
           ('microgradc',), 'microgradc', MICROGRADC_INSTALL),
    Engine('compiled', "microgradc.compile of the idiomatic loss function, replayed in C",
           ('microgradc',), 'microgradc', MICROGRADC_INSTALL),
    Engine('torch', "PyTorch eager, float64, one thread (torch.set_num_threads(1))",
           ('torch',), 'torch', 'pip install "torch>=2.13"'),
    Engine('compiled-threads', "the compiled step with compile(..., threads=2): the dense "
           "kernels split over two threads", ('microgradc',), 'microgradc', MICROGRADC_INSTALL),
    Engine('torch-threads', "the same on PyTorch's default number of threads",
           ('torch',), 'torch', 'pip install "torch>=2.13"'),
    Engine('limit', "the same step as numpy matrix products on one thread (threadpoolctl): "
           "the hardware's pace", ('numpy', 'threadpoolctl'), 'threadpoolctl',
           'pip install "threadpoolctl>=3.1"'),
)
# ratios divide these engines' figures by each engine's
BASELINES = ('micrograd', 'torch', 'limit')
TORCH_DEFAULT_THREADS = [1]  # PyTorch's own choice, read before load_engines sets one


def load_engines():
    """ENGINES, each with `missing` set if one of its modules fails to import.
    PyTorch, if present, is set to one thread, and so is numpy's BLAS: every other
    engine runs on one (torch-threads, on PyTorch's default, says so itself)."""
    engines = []
    for engine in ENGINES:
        try:
            for module in engine.modules:
                importlib.import_module(module)
        except ImportError as error:
            engine = dataclasses.replace(engine, missing=str(error) or type(error).__name__)
        engines.append(engine)
    if any(engine.name == 'limit' and engine.present for engine in engines):
        importlib.import_module('threadpoolctl').threadpool_limits(1, user_api='blas')
    if any(engine.name == 'torch' and engine.present for engine in engines):
        torch = importlib.import_module('torch')
        if TORCH_DEFAULT_THREADS == [1]:
            TORCH_DEFAULT_THREADS[0] = torch.get_num_threads()
        torch.set_num_threads(1)
    return engines


@contextmanager
def torch_default_threads():
    """PyTorch on its own default number of threads inside, on one again after."""
    torch = importlib.import_module('torch')
    torch.set_num_threads(TORCH_DEFAULT_THREADS[0])
    try:
        yield
    finally:
        torch.set_num_threads(1)

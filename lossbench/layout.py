"""Every path of a run folder, in one place.

    <run>/config.toml                   what the user asked for, written once
    <run>/run.json                      what it resolved to: device, precision, threads, losses,
                                        versions (the marker of a run folder), written once
    <run>/splits.json                   training and test case ids and where they lie
    <run>/timing.json                   wall seconds per phase
    <run>/data/train|test/<case_id>/    synthetic cases (when the data is synthetic)
    <run>/pretrain/model.pt             the shared starting point (train.init = "pretrain")
    <run>/trials/<loss>-seed<k>/        checkpoint.pt, history.csv, lesions.csv, reliability.csv,
                                        metrics.csv, predictions/, probabilities/,
                                        environment.json
    <run>/results.parquet|csv           every trial's per-case metrics
    <run>/lesions.parquet|csv           every trial's per-lesion rows
    <run>/reliability.csv               every trial's per-case reliability bins
    <run>/failures.csv                  trials stopped by a non-finite loss
    <run>/report.md|html, summary.json, figures/

Run, train, collect and report ask these objects for paths; none of them spells a file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ReportLayout", "RunLayout", "TrialLayout"]


@dataclass(frozen=True)
class TrialLayout:
    """The folder of one trial (one loss x one seed), or of the shared pretraining.

    Example:
        >>> t = TrialLayout(Path("runs/quick/trials/dice-seed0"))
        >>> t.metrics.name, t.prediction("013").as_posix()
        ('metrics.csv', 'runs/quick/trials/dice-seed0/predictions/013.nii.gz')
    """

    folder: Path

    @property
    def checkpoint(self) -> Path:
        """Resume point: weights, optimiser, generator states and history (``torch.save``)."""
        return self.folder / "checkpoint.pt"

    @property
    def history(self) -> Path:
        """Training loss per iteration: ``iteration, loss, seconds, batch_hash, attempt`` (CSV;
        ``attempt`` is 1, and one more after each resume from a checkpoint)."""
        return self.folder / "history.csv"

    @property
    def metrics(self) -> Path:
        """Per-case metrics of the finished trial (CSV); its presence marks the trial done."""
        return self.folder / "metrics.csv"

    @property
    def lesions(self) -> Path:
        """One row per reference and per predicted lesion of each test case (CSV), written
        before ``metrics.csv``."""
        return self.folder / "lesions.csv"

    @property
    def reliability(self) -> Path:
        """Each test case's reliability bins: voxels, probability sum and lesion voxels per
        probability bin, inside the brain (CSV), written before ``metrics.csv``."""
        return self.folder / "reliability.csv"

    @property
    def environment(self) -> Path:
        """Where and how the trial ran: host, device, versions, determinism flags (JSON)."""
        return self.folder / "environment.json"

    @property
    def failed(self) -> Path:
        """Why the trial stopped (JSON), when its loss became non-finite."""
        return self.folder / "failed.json"

    @property
    def init_skipped(self) -> Path:
        """Weights the initial state did not cover, one name per line."""
        return self.folder / "init_skipped.txt"

    @property
    def predictions(self) -> Path:
        """Folder of the binary test predictions, one NIfTI file per case."""
        return self.folder / "predictions"

    @property
    def model(self) -> Path:
        """Final weights (state dict); written for the shared pretraining."""
        return self.folder / "model.pt"

    def prediction(self, case_id: str) -> Path:
        """The prediction of one test case (NIfTI, uint8 0/1, on the case's own grid)."""
        return self.predictions / f"{case_id}.nii.gz"

    @property
    def probabilities(self) -> Path:
        """Folder of the test probability maps (``eval.save_probabilities``)."""
        return self.folder / "probabilities"

    def probability(self, case_id: str) -> Path:
        """The probability map of one test case (NIfTI, 16 bits: uint16 under the header's
        scaling; on the case's own grid)."""
        return self.probabilities / f"{case_id}.nii.gz"


@dataclass(frozen=True)
class RunLayout:
    """The paths of a run folder.

    Example:
        >>> run = RunLayout(Path("runs/quick"))
        >>> run.trial("hytver", 2).folder.as_posix(), run.results_csv.name
        ('runs/quick/trials/hytver-seed2', 'results.csv')
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        """The configuration the user asked for (TOML)."""
        return self.root / "config.toml"

    @property
    def run_json(self) -> Path:
        """What the configuration resolved to when the folder was created (JSON)."""
        return self.root / "run.json"

    @property
    def splits(self) -> Path:
        """The training, test (and validation) case ids and their folders (JSON)."""
        return self.root / "splits.json"

    @property
    def timing(self) -> Path:
        """Wall seconds per phase: data, pretraining, training, evaluation, report (JSON)."""
        return self.root / "timing.json"

    @property
    def data_folder(self) -> Path:
        """The folder of the generated synthetic cases, one sub-folder per split."""
        return self.root / "data"

    def data(self, split: str) -> Path:
        """Where synthetic cases of ``split`` (``"train"`` or ``"test"``) are generated."""
        return self.data_folder / split

    @property
    def pretrain(self) -> TrialLayout:
        """The shared pretraining, laid out like a trial."""
        return TrialLayout(self.root / "pretrain")

    @property
    def trials(self) -> Path:
        """The folder holding one sub-folder per trial."""
        return self.root / "trials"

    def trial(self, loss: str, seed: int) -> TrialLayout:
        """The folder of the trial of ``loss`` with ``seed``."""
        return TrialLayout(self.trials / f"{loss}-seed{seed}")

    @property
    def results_csv(self) -> Path:
        """Every trial's per-case metrics (CSV)."""
        return self.root / "results.csv"

    @property
    def results_parquet(self) -> Path:
        """The same table as Parquet."""
        return self.root / "results.parquet"

    @property
    def lesions_csv(self) -> Path:
        """Every trial's per-lesion rows (CSV); ``lossbench score`` writes one too."""
        return self.root / "lesions.csv"

    @property
    def lesions_parquet(self) -> Path:
        """The same table as Parquet."""
        return self.root / "lesions.parquet"

    @property
    def reliability(self) -> Path:
        """Every trial's per-case reliability bins (CSV)."""
        return self.root / "reliability.csv"

    @property
    def failures(self) -> Path:
        """Trials stopped by a non-finite loss (CSV)."""
        return self.root / "failures.csv"

    @property
    def tuning(self) -> Path:
        """A tuned run's configurations tried, with their validation scores (CSV)."""
        return self.root / "tuning.csv"

    @property
    def lock(self) -> Path:
        """Held by the driver while a run writes into the folder (``pid=<pid> host=<host>``)."""
        return self.root / ".lock"

    @property
    def probes(self) -> Path:
        """Marker files by which each cluster node shows it sees the run folder."""
        return self.root / ".probes"

    @property
    def written(self) -> tuple[Path, ...]:
        """Every top-level path a run writes into its folder, the lock aside: what ``run
        --force`` deletes, and nothing else.

        Example:
            >>> sorted(p.name for p in RunLayout(Path("runs/quick")).written)[:4]
            ['.probes', 'config.toml', 'data', 'failures.csv']
        """
        report = ReportLayout(self.root)
        records = (self.config, self.run_json, self.splits, self.timing)
        inputs = (*records, self.data_folder, self.pretrain.folder, self.trials, self.probes)
        tables: tuple[Path, ...] = (self.results_csv, self.results_parquet, self.failures)
        tables += (self.tuning,)
        tables += (self.lesions_csv, self.lesions_parquet, self.reliability)
        return (*inputs, *tables, report.markdown, report.html, report.summary, report.figures)


@dataclass(frozen=True)
class ReportLayout:
    """Where a report is written (the run folder by default, or any other folder).

    Example:
        >>> ReportLayout(Path("reports/quick")).figure("boxplots").as_posix()
        'reports/quick/figures/boxplots.png'
    """

    root: Path

    @property
    def markdown(self) -> Path:
        """``report.md``."""
        return self.root / "report.md"

    @property
    def html(self) -> Path:
        """``report.html``, self-contained (figures inlined)."""
        return self.root / "report.html"

    @property
    def summary(self) -> Path:
        """``summary.json``, for scripts and CI."""
        return self.root / "summary.json"

    @property
    def figures(self) -> Path:
        """The folder of the report's figures."""
        return self.root / "figures"

    def figure(self, name: str) -> Path:
        """The PNG file of figure ``name``."""
        return self.figures / f"{name}.png"

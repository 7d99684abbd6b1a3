"""Run the whole course headless: every numbered notebook through papermill, then a report.

``python -m mtl_utils.course run`` (``make run``) executes ``notebooks/NN_*.ipynb`` in order
into ``runs/<timestamp>/`` (results in its ``results/``) and writes its ``summary.md`` from the
cells each notebook tags ``headline``; a failing notebook stops the run, naming the cell.
``readme`` writes ``RESULTS.md`` from the committed notebooks' headline cells; ``adopt``
copies a run's executed notebooks into ``notebooks/``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADLINE_TAG = "headline"
# The kernel's start-up warning that it talks to us over local TCP is not an error: show the
# kernel app's errors only. Each kernel imports mtl_utils first, which imports TensorFlow
# with its start-up chatter filtered (else a notebook's first import prints it to the console).
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR", "--IPKernelApp.exec_lines=import mtl_utils"]


def notebooks(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order, optionally only those whose number is in ``only``."""
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [p for p in found if p.name[:2] in only]
    if not found:
        raise SystemExit(f"no notebooks to run in {folder} (filter: {only}).")
    return found


def _text(source: str | list[str]) -> str:
    """A notebook's text field, stored as one string or a list of lines."""
    return source if isinstance(source, str) else "".join(source)


def headline_markdown(nb_path: Path, out_dir: Path | None) -> str:
    """Markdown for one executed notebook's ``headline`` cells: text tables and PNG figures
    (figures are written next to the report, or left out when ``out_dir`` is ``None``)."""
    nb = json.loads(nb_path.read_text())
    title = next((_text(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"),
                 nb_path.stem)
    title = title.strip().splitlines()[0].lstrip("# ").strip()
    parts = [f"## {nb_path.stem}: {title}", ""]
    n_fig = 0
    for cell in nb["cells"]:
        if HEADLINE_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                if out_dir is None:
                    continue
                n_fig += 1
                name = f"{nb_path.stem}_{n_fig}.png"
                (out_dir / name).write_bytes(base64.b64decode(data["image/png"]))
                parts += [f"![{nb_path.stem} figure {n_fig}]({name})", ""]
            elif "text/plain" in data or out.get("output_type") == "stream":
                text = _text(data.get("text/plain", out.get("text", "")))
                if text.strip() and not text.startswith("<Figure"):
                    parts += ["```", re.sub(r"\x1b\[[0-9;]*m", "", text).rstrip(), "```", ""]
    if len(parts) == 2:
        parts += ["(no cell tagged `headline`)", ""]
    return "\n".join(parts)


def run(args: argparse.Namespace) -> int:
    import papermill as pm
    from tqdm.auto import tqdm

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out or ROOT / "runs" / stamp).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results"
    todo = notebooks(Path(args.notebooks), args.only)
    print(f"Running {len(todo)} notebooks into {out_dir}")
    timings = []
    bar = tqdm(todo, unit="notebook")
    for nb in bar:
        bar.set_description(nb.stem)
        start = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(out_dir / nb.name), cwd=str(nb.parent),
                                parameters={"RESULTS_DIR": str(results)}, kernel_name="python3",
                                progress_bar=False, extra_arguments=KERNEL_ARGUMENTS)
        except pm.PapermillExecutionError as err:
            bar.close()
            print(f"\nFAILED: {nb.name}, cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                  f"The executed notebook with the traceback: {out_dir / nb.name}",
                  file=sys.stderr)
            return 1
        timings.append((nb.stem, time.perf_counter() - start))
        bar.write(f"{nb.stem}: {timings[-1][1]:.0f} s")
    lines = [f"# Course run {stamp}", "",
             "Every numbered notebook executed with its default parameters by `make run`.",
             "", "| notebook | seconds |", "|---|---|"]
    lines += [f"| {name} | {sec:.0f} |" for name, sec in timings]
    lines.append("")
    lines += [headline_markdown(out_dir / nb.name, out_dir) for nb in todo]
    (out_dir / "summary.md").write_text("\n".join(lines))
    print(f"Done in {sum(s for _, s in timings):.0f} s. Report: {out_dir / 'summary.md'}")
    return 0


RESULTS_HEADER = """# Results

Headline outputs of the committed notebooks, each executed top to bottom with its default
parameters on a 2-core CPU. Written by `python -m mtl_utils.course readme` from the cells
each notebook tags `headline`; `make run` reproduces them, with figures, into
`runs/<timestamp>/summary.md`. What the notebooks are and how to run them:
[README.md](README.md).

Exact numbers differ across machines and library versions; the same seed on one machine gives
the same numbers. Differences smaller than the seed spread are noise: the notebooks compare
configurations paired by seed and print 95% intervals.
"""


def readme(args: argparse.Namespace) -> int:
    """Write ``RESULTS.md`` (the README links to it) from the committed notebooks'
    headline cells."""
    path = Path(args.results)
    todo = notebooks(Path(args.notebooks))
    body = [RESULTS_HEADER] + [headline_markdown(nb, None) for nb in todo]
    path.write_text("\n".join(body).rstrip() + "\n")
    print(f"wrote {path} from {len(todo)} notebooks")
    return 0


def adopt(args: argparse.Namespace) -> int:
    """Copy a run's executed notebooks into ``notebooks/`` without papermill's injected
    parameters and with the run's absolute paths made relative to the repository."""
    run_dir = Path(args.run).resolve()
    target = Path(args.notebooks)
    todo = notebooks(run_dir, args.only)
    for nb_path in todo:
        nb = json.loads(nb_path.read_text())
        nb["cells"] = [c for c in nb["cells"]
                       if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
        meta = nb.get("metadata", {}).get("papermill")
        if meta is not None:
            meta.update(parameters={}, input_path=f"notebooks/{nb_path.name}",
                        output_path=f"runs/{run_dir.name}/{nb_path.name}")
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        for absolute, relative in ((str(run_dir / "results"), "../results"),
                                   (str(run_dir), "runs/" + run_dir.name),
                                   (str(ROOT) + "/", "")):
            text = text.replace(absolute, relative)
        (target / nb_path.name).write_text(text)
    print(f"adopted {len(todo)} notebooks from {run_dir} into {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_utils.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="execute the notebooks and write summary.md")
    p.add_argument("--only", nargs="*", help="notebook numbers to run, e.g. --only 00 02")
    p.add_argument("--out", help="output folder (default runs/<timestamp>)")
    r = sub.add_parser("readme", help="write RESULTS.md from the notebooks' headline cells")
    r.add_argument("--results", default=str(ROOT / "RESULTS.md"), help="the file to write")
    a = sub.add_parser("adopt", help="copy a run's executed notebooks into notebooks/")
    a.add_argument("run", help="the run folder, runs/<timestamp>")
    a.add_argument("--only", nargs="*", help="notebook numbers to adopt")
    for command in (p, r, a):
        command.add_argument("--notebooks", default=str(ROOT / "notebooks"),
                             help="notebook folder")
    args = parser.parse_args(argv)
    return {"run": run, "readme": readme, "adopt": adopt}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

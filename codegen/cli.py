"""``odyssey-codegen``: render generated modules, compile kernels ahead of time,
show the IR or machine code of a kernel, manage the cache."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

from . import cache
from .api import (STATS, compile_kernel, compile_sumsq, kernel_assembly, kernel_llvm_ir,
                  load_spec_file, origin_counts)
from .ir import DTYPES, build_ir
from .metric_cli import add_metric_commands
from .render import module_name, relative, render_module, render_package_init
from .spec import Spec, SpecError, standard_spec_dir
from .target import (Target, TargetError, default_target, known_cpus, named_target,
                     simd_bits_from_env)

__all__ = ["main"]

def _spec_dir() -> Path:
    local = Path.cwd() / "specs"
    return local if local.is_dir() else standard_spec_dir()


def standard_specs() -> list[Path]:
    return sorted((_spec_dir() / "optimizers").glob("*.toml"))


def _resolve(arg: str) -> Path:
    path = Path(arg)
    if path.suffix == ".toml" or path.exists():
        return path
    for candidate in standard_specs():
        if candidate.stem == arg.lower():
            return candidate
    names = ", ".join(p.stem for p in standard_specs())
    raise SpecError(arg, None, "no such spec file or standard spec", arg, names)


def _variants(spec: Spec) -> list[dict[str, bool]]:
    names = list(spec.flag_names)
    return [dict(zip(names, combo)) for combo in itertools.product((False, True), repeat=len(names))]


def cmd_generate(args: argparse.Namespace) -> int:
    standard = not args.specs
    paths = standard_specs() if standard else [_resolve(s) for s in args.specs]
    out = Path(args.out) if args.out else (Path.cwd() / "generated" if standard else Path.cwd())
    root = out.parent if standard else Path.cwd()
    files: dict[Path, str] = {}
    names = []
    for path in paths:
        spec = load_spec_file(path)
        mod = module_name(spec)
        import_from = f"odyssey_training.generated.{mod}" if standard else mod
        files[out / f"{mod}.py"] = render_module(spec, relative(path, root), import_from)
        names.append((mod, spec.name))
    if standard:
        files[out / "__init__.py"] = render_package_init(names)
    if args.check:
        stale = [p for p, text in files.items()
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if standard and out.is_dir():
            stale += [p for p in out.glob("*.py") if p not in files]
        for p in stale:
            print(f"stale: {p}", file=sys.stderr)
        if stale:
            print("run `odyssey-codegen generate` and commit the result", file=sys.stderr)
            return 1
        print(f"{len(files)} generated file(s) are fresh")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for p, text in files.items():
        tmp = p.with_suffix(".py.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
        print(f"wrote {p}")
    return 0


def _target(args: argparse.Namespace) -> Target:
    bits = getattr(args, "simd_bits", None)
    return named_target(args.cpu, bits) if args.cpu else (
        default_target() if not bits else named_target("host", bits))


def cmd_kernels(args: argparse.Namespace) -> int:
    if args.cpu == "help":
        print("\n".join(known_cpus()))
        return 0
    target = _target(args)
    paths = [_resolve(s) for s in args.specs] if args.specs else standard_specs()
    start, before, count = time.perf_counter(), dict(STATS), 0
    for path in paths:
        spec = load_spec_file(path)
        for flags in _variants(spec):
            for dtype in args.dtype:
                for clip in (False, True):
                    build_ir(spec, flags, dtype, clip)  # verifies the variant
                    compile_kernel(spec, flags, dtype, scale_grad=clip, target=target)
                    count += 1
    for dtype in args.dtype:   # the gradient-norm kernels (max_grad_norm, clip_grad_norm_)
        compile_sumsq(dtype, target=target)
        count += 1
    print(f"{count} kernels for {target.cpu} ({target.vector_bits}-bit vectors): "
          f"{origin_counts(before, count)}, {time.perf_counter() - start:.2f} s; "
          f"cache: {cache.cache_dir()}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for path in standard_specs():
        spec = load_spec_file(path)
        flags = ", ".join(spec.flag_names) or "-"
        print(f"{spec.name:10s} {path}  hypers: {', '.join(spec.hyper_names)}  flags: {flags}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    spec = load_spec_file(_resolve(args.spec))
    flags = {f.name: f.default for f in spec.flags}
    for item in args.flag:
        name, _, value = item.partition("=")
        if name not in flags:
            raise SpecError(spec.path, None, "unknown flag", name, ", ".join(flags))
        flags[name] = value.lower() in ("1", "true", "yes", "")
    target = _target(args)
    width = args.width or target.width(args.dtype)
    chosen = ("--width" if args.width else "--simd-bits" if args.simd_bits else
              "ODYSSEY_SIMD_BITS" if simd_bits_from_env() else
              "the target's default: what LLVM vectorizes with for this CPU")
    print(f"; {spec.name} {args.dtype} width={width} ({chosen}) target={target.cpu} "
          f"({target.vector_bits}-bit vectors, prefetch {target.prefetch_bytes} B ahead) "
          f"flags={flags}{' clip' if args.clip else ''}\n"
          f"; the runtime runs it for {spec.name}(..., simd_width={args.width})"
          + ("" if args.width else " in this environment"))
    if args.asm:
        print(kernel_assembly(spec, flags, args.dtype, width=width, scale_grad=args.clip,
                              target=target))
    else:
        print(kernel_llvm_ir(spec, flags, args.dtype, width=width, scale_grad=args.clip,
                             target=target, optimized=not args.raw))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    if args.action == "clear":
        print(f"removed {cache.clear()} entries from {cache.cache_dir()}")
    else:
        info = cache.info()
        print(f"path: {info['path']}\nentries: {info['entries']}\nbytes: {info['bytes']}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odyssey-codegen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="render Python modules from specs")
    g.add_argument("specs", nargs="*", help="spec files (default: every standard spec)")
    g.add_argument("--out", help="output directory (default: generated/ or .)")
    g.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    g.set_defaults(func=cmd_generate)

    def target_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--cpu", help="LLVM CPU name (default: host; 'help' lists them)")
        p.add_argument("--simd-bits", type=int, choices=(128, 256, 512),
                       help="vector register width to use")

    k = sub.add_parser("kernels", help="compile every kernel variant into the cache")
    k.add_argument("specs", nargs="*")
    k.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES))
    target_args(k)
    k.set_defaults(func=cmd_kernels)
    sub.add_parser("list", help="list the standard specs").set_defaults(func=cmd_list)
    s = sub.add_parser("show", help="print a kernel's LLVM IR or assembly")
    s.add_argument("spec", help="a spec file or a standard spec name (adam)")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--ir", action="store_true", help="LLVM IR after optimization (default)")
    mode.add_argument("--asm", action="store_true", help="machine code")
    s.add_argument("--raw", action="store_true", help="with --ir: before optimization")
    s.add_argument("--dtype", choices=DTYPES, default="float32")
    s.add_argument("--width", type=int, help="SIMD width in elements")
    s.add_argument("--flag", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("--clip", action="store_true", help="the max_grad_norm variant")
    target_args(s)
    s.set_defaults(func=cmd_show)
    c = sub.add_parser("cache", help="show or clear the kernel cache")
    c.add_argument("action", choices=("info", "clear"))
    c.set_defaults(func=cmd_cache)
    add_metric_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except (SpecError, TargetError, ValueError) as exc:
        print(f"odyssey-codegen: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `odyssey-codegen show ... | head`: the reader has enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

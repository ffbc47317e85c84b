"""What machine a report ran on: device, CPU model and vector extensions, torch, load.

Trained verdicts rest on intervals over seeds, and the digits behind them change from one machine
to another with the same seeds (another CPU picks other kernels, sums in another order, rounds bf16
elsewhere): report.json and the page say which CPU, which extensions torch can use, which torch.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

# /proc/cpuinfo flags that decide which kernels torch's CPU back ends pick, in this order
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_description(cpuinfo: str | None = None) -> tuple[str, list[str]]:
    """(model name, the VECTOR_FLAGS it has) from /proc/cpuinfo's text (Linux; elsewhere the
    platform's processor string and no flags)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        try:
            cpuinfo = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor's
    model = fields.get("model name") or platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    return model, [flag for flag in VECTOR_FLAGS if flag in flags]


def machine_info(device: torch.device) -> dict:
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    model, extensions = cpu_description()
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "cpu_model": model,
        "cpu_extensions": extensions,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels torch picked
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": load,
    }

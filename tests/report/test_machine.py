"""report.json and the page say which CPU, which vector extensions and which torch measured them."""

import torch

from onebyone.report.machine import VECTOR_FLAGS, cpu_description, machine_info

SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8 avx512cd
processor\t: 1
model name\t: another core
flags\t\t: fpu
"""


def test_cpu_model_and_extensions_come_from_the_first_processor_of_cpuinfo():
    model, flags = cpu_description(SAPPHIRE_RAPIDS)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert flags == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]
    epyc = "model name\t: AMD EPYC\nflags\t: fpu avx2 avx512f\n"
    assert cpu_description(epyc) == ("AMD EPYC", ["avx2", "avx512f"])


def test_machine_info_records_this_machine():
    info = machine_info(torch.device("cpu"))
    assert info["torch"] == torch.__version__
    assert info["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(info["cpu_extensions"]) <= set(VECTOR_FLAGS) and info["cpu_model"]

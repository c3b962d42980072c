"""Boilerplate marks on chunk text: what a table of contents, an index or noise looks like."""

from __future__ import annotations

import pytest

from ingest.hygiene import INDEX, NOISE, TOC, boilerplate_kind

PASSAGES = [
    "Quantization reduces the memory of a 7B model from 14 GB to about 4 GB, at 4.8 bits per "
    "weight (see page 12).",
    "数据并行中，Ring AllReduce 让 GPU 首尾相连成环，只与相邻卡通信，共 8 张卡。",
    "Supported formats: PDF, 1, DOCX, 2 and more.",
    "Step 1. Open the lid. Step 2. Remove the 4 screws. Step 3. Lift the cover.",
]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Contents 1 Introduction ........ 1 1.1 Background ........ 2 1.2 Scope ........ 3", TOC),
        (
            "i Table of Contents 1 Introduction . . . . . . . . . 1 2 ASN.1 structure handling . . "
            ". . . . . . 2 2.1 ASN.1 syntax. . . . . . . . . . . 2",
            TOC,
        ),
        ("1 Introduction 1 1.1 Background 2 1.2 Scope 3 2 Installation 5 2.1 Requirements 6", TOC),
        ("目录 第一章 概述 …… 1 第二章 安装 …… 5 第三章 配置 …… 9", TOC),
        (
            "Index adapter, 12, 45 batch size, 3, 77 checkpoint, 19 data parallel, 22–24 "
            "embedding, 5, 8, 90 fine-tuning, 31",
            INDEX,
        ),
        (
            "Concept Index A asn1Coding program . . . . . . . . 5 asn1Decoding program . . . . . . 7 "
            "ASN.1 schema . . . . . . . . 2",
            INDEX,
        ),
        ("12 34 56 78 -- 90 | 11 | 12 %% 13.5 14.2", NOISE),
        ("— — — * * * 2024", NOISE),
    ],
)
def test_boilerplate_is_recognised(text: str, kind: str) -> None:
    assert boilerplate_kind(text) == kind


@pytest.mark.parametrize("text", PASSAGES)
def test_passages_are_not_boilerplate(text: str) -> None:
    assert boilerplate_kind(text) is None


def test_a_table_of_figures_is_data_not_noise() -> None:
    table = "GGUF type | Approx. bits per weight\nQ4_K_M | 4.8\nQ5_K_M | 5.7\nQ8_0 | 8.5"
    assert boilerplate_kind(table, "table") is None
    assert boilerplate_kind("1 | 2 | 3\n4 | 5 | 6", "table") is None
    assert boilerplate_kind("1 | 2 | 3\n4 | 5 | 6") == NOISE  # the same figures as prose


def test_chinese_prose_with_figures_is_not_boilerplate() -> None:
    """From rgb_zh: a news passage full of model numbers, and a grain-output table in prose."""
    phones = ("iPhone 14 系列新配色 近两年苹果在春季分别为 iPhone 12、iPhone 13 推出了新的配色，"
              "这一传统有可能在今年继续。在 2022 年 3 月苹果为 iPhone 13 Pro 和 13 Pro Max "
              "推出了苍岭绿，为 iPhone 13 和 13 mini 推出了一种新的绿色")  # fmt: skip
    grain = ("表1　2022年全国粮食播种面积、总产量及单位面积产量情况   播种面积 （千公顷） 总产量 "
             "（万吨） 单位面积产量 （公斤/公顷） 全年粮食 118332.1 68652.8 5801.7 一、分季节  "
             "1、夏粮 26530.0 14740.3 5556.1  2、早稻 4755.1 2812.3")  # fmt: skip
    assert boilerplate_kind(phones) is None
    assert boilerplate_kind(grain) is None
    comments = "话体坛 2023-08-06 00:07:48 晚池 2023-08-08 04:23:53 足球分析员 2023-08-08 11:05:03"
    assert boilerplate_kind(comments) == NOISE  # user names and time stamps

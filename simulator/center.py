"""The simulated center: departments, counters, officers and boxes for demos and load tests.

Shaped like the provincial Public Administration Center of the source article: 24 departments,
60 counters (one box each), about 40 officers. Names are made up; the structure is what matters.
"""

from __future__ import annotations

import random
from typing import Any

DEPARTMENTS = [
    ("STP", "Sở Tư pháp"),
    ("SKHDT", "Sở Kế hoạch và Đầu tư"),
    ("STNMT", "Sở Tài nguyên và Môi trường"),
    ("SXD", "Sở Xây dựng"),
    ("SGTVT", "Sở Giao thông vận tải"),
    ("SCT", "Sở Công Thương"),
    ("SLDTBXH", "Sở Lao động - Thương binh và Xã hội"),
    ("SYT", "Sở Y tế"),
    ("SGDDT", "Sở Giáo dục và Đào tạo"),
    ("SNNPTNT", "Sở Nông nghiệp và Phát triển nông thôn"),
    ("STC", "Sở Tài chính"),
    ("SNV", "Sở Nội vụ"),
    ("STTTT", "Sở Thông tin và Truyền thông"),
    ("SVHTTDL", "Sở Văn hóa, Thể thao và Du lịch"),
    ("SKHCN", "Sở Khoa học và Công nghệ"),
    ("SNgV", "Sở Ngoại vụ"),
    ("BQLKCN", "Ban Quản lý các Khu công nghiệp"),
    ("BDT", "Ban Dân tộc"),
    ("CAT", "Công an tỉnh"),
    ("CT", "Cục Thuế tỉnh"),
    ("BHXH", "Bảo hiểm xã hội tỉnh"),
    ("KBNN", "Kho bạc Nhà nước tỉnh"),
    ("DL", "Công ty Điện lực tỉnh"),
    ("VNPT", "Bưu điện tỉnh"),
]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Thanh", "Quốc", "Ngọc", "Hữu", "Thu"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Lan", "Long", "Mai",
         "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trung", "Tuấn", "Vân", "Yến", "Khoa"]


def box_id(number: int) -> str:
    return f"box-{number:02d}"


def counter_code(number: int) -> str:
    return f"{number:02d}"


def registry(counters: int = 60, officers: int = 40, seed: int = 2014) -> dict[str, Any]:
    """The registry of a center with `counters` counters, one box each, spread over the departments.
    Each officer staffs one counter of their department; with fewer officers than counters, the
    counters left over have nobody assigned (their presses count for the department only)."""
    rng = random.Random(seed)
    departments = DEPARTMENTS[: min(len(DEPARTMENTS), counters)]
    counter_rows, box_rows, officer_rows, assignments = [], [], [], []
    department_of = [departments[i % len(departments)][0] for i in range(counters)]
    department_of.sort(key=[code for code, _ in departments].index)
    for number in range(1, counters + 1):
        code = counter_code(number)
        department = department_of[number - 1]
        counter_rows.append({"code": code, "name": f"Quầy {code}", "department": department, "scale": "sat2"})
        box_rows.append({"box": box_id(number), "counter": code})
    officer_count = max(officers, len(departments))
    staff: dict[str, list[str]] = {code: [] for code, _ in departments}
    for number in range(1, officer_count + 1):
        department = departments[(number - 1) % len(departments)][0]
        officer = f"CB{number:03d}"
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        officer_rows.append({"code": officer, "name": name, "department": department})
        staff[department].append(officer)
    for row in counter_rows:
        if staff[row["department"]]:
            assignments.append({"officer": staff[row["department"]].pop(0), "counter": row["code"]})
    return {
        "departments": [{"code": code, "name": name} for code, name in departments],
        "counters": counter_rows,
        "officers": officer_rows,
        "boxes": box_rows,
        "officer_assignments": assignments,
    }

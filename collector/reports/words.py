"""The words of a report in Vietnamese and English, and how its numbers and names are written."""

from __future__ import annotations

from typing import Any

from collector.figures import FEW_RATINGS

WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "title_week": "BÁO CÁO TUẦN", "title_month": "BÁO CÁO THÁNG", "title_quarter": "BÁO CÁO QUÝ",
        "title_year": "BÁO CÁO NĂM", "title_day": "BÁO CÁO NGÀY", "title_review": "ĐÁNH GIÁ CÔNG CHỨC NĂM",
        "document": "BÁO CÁO",
        "subtitle": "Kết quả đánh giá mức độ hài lòng của người dân, doanh nghiệp",
        "review_subject": "Kết quả đánh giá mức độ hài lòng đối với từng công chức tiếp nhận năm {year}",
        "national_title": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "motto": "Độc lập - Tự do - Hạnh phúc",
        "number": "Số", "recipients": "Nơi nhận:",
        "period_week": "Tuần", "period_month": "Tháng", "period_quarter": "Quý", "period_year": "Năm",
        "period_day": "Ngày",
        "from_to": "từ {first} đến {last}", "previous": "Kỳ trước", "unit": "Đơn vị",
        "officer": "Công chức tiếp nhận", "counter": "Quầy", "total_ratings": "Tổng số phiếu", "count": "Số phiếu",
        "share": "Tỷ lệ", "rate": "Tỷ lệ hài lòng", "change": "So với kỳ trước", "grand_total": "Tổng cộng",
        "interval": "Khoảng tin cậy 95%", "by_officer": "Theo công chức tiếp nhận", "by_counter": "Theo quầy",
        "nobody": "Không có cán bộ trực", "no_unit": "(chưa xác định đơn vị)", "site": "Trung tâm",
        "loss_all": "Tất cả {n} lượt bấm của {period} đều được ghi nhận.",
        "loss_some": "{missing} trong {n} lượt bấm của {period} chưa về máy chủ: {boxes}.",
        "loss_box": "thiết bị {box} thiếu {count}",
        "down": "thiết bị ngừng {time}", "down_minutes": "Thiết bị ngừng (phút giờ hành chính)",
        "down_note": "Thiết bị ngừng: thời gian trong giờ hành chính thiết bị của quầy mất kết nối hoặc im lặng "
                     "(quầy không có phiếu lúc đó không phải vì không có người đánh giá).",
        "excluded": "Không tính các lượt bấm bị chặn (bấm liên tục) và lượt thử.",
        "included": "Có tính: {what}.", "generated": "Lập lúc", "points": "điểm %",
        "few": f"(*) Dưới {FEW_RATINGS} phiếu: tỷ lệ còn ít cơ sở, chỉ để tham khảo (không bị ẩn).",
        "interval_note": "Khoảng tin cậy 95% theo Wilson; xếp hạng theo cận dưới của khoảng này.",
        "level": "Cấp", "kind_department": "Đơn vị", "kind_officer": "Công chức", "kind_total": "Tổng",
        "kind_no_officer": "Không có cán bộ trực", "kind_counter": "Quầy",
        "code": "Mã", "name": "Tên", "index": "Chỉ số (0-100)", "previous_rate": "Tỷ lệ hài lòng kỳ trước",
        "department_code": "Mã đơn vị", "officer_code": "Mã công chức", "counter_code": "Mã quầy",
        "rate_low": "Cận dưới 95%", "rate_high": "Cận trên 95%", "few_ratings": "Ít phiếu",
        "month_short": "T{month}", "year_total": "Cả năm", "rank": "Xếp hạng trong đơn vị",
        "month_ratings": "T{month} - Số phiếu", "month_rate": "T{month} - Tỷ lệ hài lòng",
    },
    "en": {
        "title_week": "WEEKLY REPORT", "title_month": "MONTHLY REPORT", "title_quarter": "QUARTERLY REPORT",
        "title_year": "ANNUAL REPORT", "title_day": "DAILY REPORT", "title_review": "ANNUAL OFFICER REVIEW",
        "document": "REPORT",
        "subtitle": "Citizen and business satisfaction ratings",
        "review_subject": "Citizen and business satisfaction with each receiving officer, {year}",
        "national_title": "SOCIALIST REPUBLIC OF VIETNAM", "motto": "Independence - Freedom - Happiness",
        "number": "No.", "recipients": "Recipients:",
        "period_week": "Week", "period_month": "Month", "period_quarter": "Quarter", "period_year": "Year",
        "period_day": "Day",
        "from_to": "{first} to {last}", "previous": "Previous period", "unit": "Unit",
        "officer": "Receiving officer", "counter": "Counter", "total_ratings": "Total ratings", "count": "Count",
        "share": "%", "rate": "Satisfaction rate", "change": "Change vs previous", "grand_total": "Total",
        "interval": "95% interval", "by_officer": "By receiving officer", "by_counter": "By counter",
        "nobody": "No officer on duty", "no_unit": "(no unit)", "site": "Center",
        "loss_all": "All {n} presses of the {period} accounted for.",
        "loss_some": "{missing} of the {n} presses of the {period} never reached the collector: {boxes}.",
        "loss_box": "box {box} missing {count}",
        "down": "box down {time}", "down_minutes": "Box down (office minutes)",
        "down_note": "Box down: office hours in which the counter's box was offline or silent (no ratings then "
                     "does not mean nobody rated).",
        "excluded": "Suppressed (repeated) and test presses are not counted.",
        "included": "Counted as well: {what}.", "generated": "Generated", "points": "pp",
        "few": f"(*) Fewer than {FEW_RATINGS} ratings: the rate rests on few ratings (shown, not hidden).",
        "interval_note": "Wilson 95% intervals; ranks follow the interval's lower end.",
        "level": "Level", "kind_department": "Unit", "kind_officer": "Officer", "kind_total": "Total",
        "kind_no_officer": "No officer on duty", "kind_counter": "Counter",
        "code": "Code", "name": "Name", "index": "Index (0-100)", "previous_rate": "Previous satisfaction rate",
        "department_code": "Unit code", "officer_code": "Officer code", "counter_code": "Counter code",
        "rate_low": "95% low", "rate_high": "95% high", "few_ratings": "Few ratings",
        "month_short": "{month:02d}", "year_total": "Year", "rank": "Rank in unit",
        "month_ratings": "{month:02d} - ratings", "month_rate": "{month:02d} - satisfaction rate",
    },
}


def percent(value: float | None, lang: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"
    return (text.replace(".", ",") if lang == "vi" else text) + ("" if signed else "%")


def rate_text(figure: dict[str, Any], lang: str) -> str:
    """The rate with the few-ratings mark: '66,7%*'."""
    mark = "*" if figure["total"] and figure["few_ratings"] else ""
    return percent(figure["satisfaction_rate"], lang) + mark


def interval_text(figure: dict[str, Any], lang: str) -> str:
    """'20,8-93,9%'; '-' without ratings."""
    if figure["rate_low"] is None:
        return "-"
    return f"{percent(figure['rate_low'], lang)[:-1]}-{percent(figure['rate_high'], lang)}"


def duration_text(minutes: int, lang: str) -> str:
    """'2 giờ 05 phút' / '2 h 05 min'; under an hour only the minutes."""
    hours, rest = divmod(minutes, 60)
    unit_h, unit_m = ("giờ", "phút") if lang == "vi" else ("h", "min")
    return f"{hours} {unit_h} {rest:02d} {unit_m}" if hours else f"{rest} {unit_m}"


def row_name(level: str, name: str, lang: str) -> str:
    if level == "no_officer" or level == "officer" and not name:
        return WORDS[lang]["nobody"]
    if level == "department" and not name:
        return WORDS[lang]["no_unit"]
    if level == "total":
        return WORDS[lang]["grand_total"]
    return name

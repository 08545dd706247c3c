"""Problems found in a COCO file: collected by section and kind, capped, raised together."""

from __future__ import annotations

from jointly.domain_errors import Invalid

MAX_MESSAGES = 200


class CocoImportFailed(Invalid):
    """A file that cannot be imported, with every problem found (nothing was written)."""

    def __init__(self, errors: dict[str, list[str]], counts: dict[str, int], warnings: list[str] | None = None):
        total = sum(counts.values()) or sum(len(v) for v in errors.values())
        first = next((m for ms in errors.values() for m in ms), "")
        super().__init__(f"The COCO file has {total} problem(s); nothing was imported. {first}".strip(), errors)
        self.counts, self.warnings = counts, warnings or []

    @property
    def job_result(self) -> dict:
        """What a failed job keeps as its result, so `/api/v1/jobs/{id}/` shows every error."""
        return {
            "ok": False, "detail": str(self), "errors": self.errors, "error_counts": self.counts,
            "warnings": self.warnings,
        }


class ErrorLog:
    """Messages grouped by section (file, categories, keypoints, images, annotations), capped; counts by kind."""

    def __init__(self, cap: int = MAX_MESSAGES):
        self.cap = cap
        self.messages: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        self._shown = 0

    def add(self, section: str, kind: str, message: str, count: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + count
        if self._shown < self.cap:
            self.messages.setdefault(section, []).append(message)
            self._shown += 1

    def extend(self, section: str, messages: list[str], counts: dict[str, int]) -> None:
        for kind, n in counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        room = max(0, self.cap - self._shown)
        if messages and room:
            self.messages.setdefault(section, []).extend(messages[:room])
            self._shown += min(room, len(messages))

    @property
    def remaining(self) -> int:
        return max(1, self.cap - self._shown)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def fail(self, warnings: list[str]) -> CocoImportFailed:
        shown = sum(len(v) for v in self.messages.values())
        total = sum(self.counts.values())
        if total > shown:
            self.messages.setdefault("summary", []).append(
                f"{total - shown} more problem(s) not listed; counts by kind: "
                + ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
            )
        return CocoImportFailed(self.messages, self.counts, warnings)

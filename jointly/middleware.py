"""Request guards that hold for every view, API or page."""

from urllib.parse import unquote_to_bytes

from django.http import HttpResponse, JsonResponse


class RefuseNulMiddleware:
    """Refuse a NUL byte in the URL or query string (400) before any view reads it.

    PostgreSQL cannot hold NUL in text, so `?name=%00` reaching a filter was a
    database error (500). No URL of Jointly means anything with NUL in it,
    so it is refused here once instead of in every filter.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path_info or (raw and b"\x00" in unquote_to_bytes(raw)):
            detail = "NUL characters (%00) are not allowed in URLs or query parameters."
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": detail, "errors": {}}, status=400)
            return HttpResponse(detail, status=400, content_type="text/plain")
        return self.get_response(request)

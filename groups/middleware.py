"""Request-wide handling of input that breaks a layer below the forms."""

import logging

from django.http import HttpRequest
from django.shortcuts import render

logger = logging.getLogger(__name__)


class OversizeNumberMiddleware:
    """A number too large for the database's integers (`…?id=9223372036854775808`) makes
    SQLite raise OverflowError where a form would have said "not a valid choice" (Django's
    choice fields do not catch it). It is the request's fault: a 400 that says so."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, OverflowError):
            return None
        logger.warning("400 for %s: a number in the request is too large", request.path)
        message = "A number in this request is too large. Check the address or the form."
        return render(request, "400.html", {"message": message}, status=400)

"""Tests of the ballot domain: RFC 9474 tokens, backends, formats and the voter client."""

"""Sending through the telefon-ip.ru WhatsApp gateway: protocol, client, sandbox, pacing, sender."""

"""Campaigns: what to send to whom, and how fast.

The lifecycle, shared by the campaign functions (people's actions) and the sender (the engine);
the tables in ``webapp.models`` (``Campaign``, ``Recipient``) are the only thing they share.

Campaign ``status``::

    draft ──start──▶ scheduled ──(start_at reached, by the sender)──▶ running
    draft ──start──▶ running ⇄ paused          running ──(nothing left, by the sender)──▶ completed
    draft | scheduled | running | paused ──cancel──▶ cancelled
    completed ──retry──▶ running;  paused ──retry──▶ paused (recipients back to pending)

Any other transition is refused (HTTP 409). ``pause_code`` says why a campaign is paused:
``user`` (someone pressed pause), ``balance`` / ``unauthorized`` (the gateway refused the
account; every further call would fail too), ``gateway_unavailable`` (no successful answer
for a sustained stretch), ``gateway_error`` (a wrong address, a firewall, or the same refusal
call after call). ``pause_detail`` keeps the gateway's own words, token-free.

Starting materializes one ``Recipient`` per contact of the list, in one statement (opted-out
phones become ``skipped``), and sets the ``count_*`` columns. From then on every change of a
recipient's status updates the counts in the same transaction, so progress is one row read.
``count_pending`` includes recipients in ``sending``.

Recipient ``status``::

    pending ──(claimed, committed BEFORE the HTTP call)──▶ sending
    sending ──▶ sent      (the gateway answered success: message_id, gateway_status kept)
    sending ──▶ failed    (a definite refusal, or transient errors until attempts run out)
    sending ──▶ unknown   (the request may have left but no answer came; or found in
                           ``sending`` after a crash): never re-sent automatically
    sending ──▶ pending   (a transient error with attempts left, ``next_attempt_at`` set; or an
                           account error, which also pauses the campaign)
    pending ──▶ skipped   (opted out, or the campaign was cancelled before it was sent)
    failed | unknown ──retry──▶ pending   (only when a person asks)

``attempts`` counts HTTP calls made for the recipient; ``message`` holds the exact text sent
(rendered with ``webapp.messages`` from the list's fields, seed ``f"{campaign_id}:{phone}"``,
the same seed as the preview), ``app`` the WhatsApp account used.

A reminder campaign (a ``schedule`` option) gives each recipient a ``due_at`` at start, from
its row (``webapp.campaigns.reminders``); rows it cannot read, or whose time has passed, are
``skipped`` with why. The sender claims only due recipients, in ``due_at`` order. When none is
due, the campaign stays ``running`` but rests: ``next_due_at`` notes its next reminder and no
sender leases it until then. Rows added later (``add_recipients``), and retries, wake it up.

One sender per campaign across processes and hosts: ``lease_owner`` / ``lease_expires_at``
are taken atomically and renewed by a heartbeat; a lease left by a dead process expires and is
taken over (within 30 s).
"""

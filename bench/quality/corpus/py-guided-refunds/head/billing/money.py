"""Money is integer cents everywhere; these helpers are the only place it becomes text."""


def format_cents(cents: int, currency: str = "EUR") -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d} {currency}"


def parse_cents(text: str) -> int:
    whole, _, part = text.strip().partition(".")
    if len(part) > 2 or not whole.lstrip("-").isdigit() or (part and not part.isdigit()):
        raise ValueError(f"not an amount: {text!r}")
    cents = abs(int(whole)) * 100 + int(part.ljust(2, "0") or 0)
    return -cents if whole.startswith("-") else cents

"""The status page (/status): read-only HTML behind a sign-in, sections from a registry."""

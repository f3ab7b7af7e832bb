"""Where the dns plugin's record sets land: a server over RFC 2136, or zone files."""

"""The chat page `gossamer serve` shows at `/`: static files only, a client of the public APIs."""

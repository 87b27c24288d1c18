"""Reads for people: raw export today; segmentation, funnels and retention build here."""

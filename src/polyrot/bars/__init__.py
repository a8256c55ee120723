"""The four bars (SPEC §8): each computes units of a statistic; ``gate`` judges them
against preregistration.md and writes the verdict."""

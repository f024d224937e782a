"""The report's figures: plots over the grid (`plots`) and the forest plot of variance shares
(`forest`)."""

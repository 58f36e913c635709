"""Datasets for training: rosbag2 MCAP episodes, raw DROID episodes, clips, feature cache."""

"""Video: frame prediction and generation with a ConvLSTM encoder-forecaster (Moving MNIST or
your clips).

    rnnkit train video-prediction
    rnnkit generate runs/video_prediction-... --length 50 --out rollout.gif
"""
